"""Albumentations presets, one ladder for every task. Images arrive as uint8 HxWxC arrays;
tensors leave normalised. A mask passed with its image (`t(image=..., mask=...)`) gets the same
geometric transforms with nearest-neighbour interpolation, so class indices stay exact.

  none    resize
  light   + horizontal flip
  medium  + shift-scale-rotate, brightness/contrast
  heavy   + coarse dropout (image only), gamma
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
from albumentations.pytorch import ToTensorV2

from visionfit.errors import DataError

PRESETS = ("none", "light", "medium", "heavy")


def create_transforms(
    preset: str,
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    train: bool,
) -> A.Compose:
    """Build the pipeline for one stage; evaluation uses only resize + normalise.

    >>> t = create_transforms("light", 64, (0.5,) * 3, (0.5,) * 3, train=True)
    """
    if preset not in PRESETS:
        raise DataError(f"unknown augmentation preset {preset!r}; choose from {', '.join(PRESETS)}")
    nearest = {"mask_interpolation": cv2.INTER_NEAREST}
    ops: list = [A.Resize(img_size, img_size, interpolation=cv2.INTER_AREA, **nearest)]
    if train and preset in ("light", "medium", "heavy"):
        ops.append(A.HorizontalFlip(p=0.5))
    if train and preset in ("medium", "heavy"):
        ops += [
            A.Affine(
                translate_percent=(-0.0625, 0.0625),
                scale=(0.9, 1.1),
                rotate=(-15, 15),
                border_mode=cv2.BORDER_REFLECT_101,
                **nearest,
                p=0.5,
            ),
            A.RandomBrightnessContrast(0.2, 0.2, p=0.5),
        ]
    if train and preset == "heavy":
        ops += [
            A.CoarseDropout(
                num_holes_range=(1, 8),
                hole_height_range=(0.05, 0.15),
                hole_width_range=(0.05, 0.15),
                p=0.5,
            ),
            A.RandomGamma(gamma_limit=(80, 120), p=0.5),
        ]
    ops += [A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0), ToTensorV2()]
    return A.Compose(ops)
