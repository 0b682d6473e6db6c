"""The classical baseline's features: an image decoded with the shared decoder, resized to
size x size, as flattened pixels in 0..1 or scikit-image's HOG. Training (engine/baseline.py) and
prediction (inference/baseline.py) share this one copy."""

from __future__ import annotations

import cv2
import numpy as np

from visionfit.data.io import decode_image
from visionfit.limits import DEFAULT_MAX_PIXELS

__all__ = ["array_features", "image_features", "resized_image"]


def resized_image(
    source, size: int, in_chans: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Decode with the shared decoder and resize to size x size (HxWxC uint8)."""
    arr = decode_image(source, in_chans=in_chans, max_pixels=max_pixels)
    arr = cv2.resize(arr, (size, size), interpolation=cv2.INTER_AREA)
    return arr[:, :, None] if arr.ndim == 2 else arr


def array_features(arr: np.ndarray, features: str) -> np.ndarray:
    """A resized image's feature vector: flattened pixels in 0..1, or HOG."""
    if features == "pixels":
        return (arr.astype(np.float32) / 255.0).reshape(-1)
    from skimage.feature import hog

    cell = max(4, arr.shape[0] // 8)
    return hog(
        arr,
        orientations=9,
        pixels_per_cell=(cell, cell),
        cells_per_block=(2, 2),
        channel_axis=-1,
        feature_vector=True,
    ).astype(np.float32)


def image_features(
    path, size: int, features: str, in_chans: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """One image's feature vector: flattened resized pixels in 0..1, or HOG."""
    return array_features(resized_image(path, size, in_chans, max_pixels), features)
