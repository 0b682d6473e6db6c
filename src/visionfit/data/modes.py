"""Pixel modes to 8-bit arrays: grayscale, palette, LA/RGBA composited on a background, CMYK,
16-bit and float images scaled by their own range (not clipped), 1 or 3 channels."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from visionfit.data.decode_errors import (
    ImageDecodeError,
    _classify,
)

Background = int | Sequence[int]


_HIGH_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})


def _check_in_chans(in_chans: int | None) -> None:
    """`decode_file` takes any channel count >= 1 (None: the file's own, see data/highbit.py)."""
    if in_chans is not None and (not isinstance(in_chans, (int, np.integer)) or in_chans < 1):
        raise ValueError(f"in_chans must be a channel count >= 1, got {in_chans!r}")


def _check_rgb_or_gray(in_chans: int) -> None:
    if in_chans not in (1, 3):
        raise ValueError(f"in_chans must be 1 or 3, got {in_chans!r}")


def _background_rgb(background: Background) -> tuple[int, int, int]:
    values = (background,) * 3 if isinstance(background, (int, np.integer)) else tuple(background)
    if len(values) != 3 or not all(
        isinstance(v, (int, np.integer)) and 0 <= int(v) <= 255 for v in values
    ):
        raise ValueError(f"background must be an int or three ints in 0..255, got {background!r}")
    return (int(values[0]), int(values[1]), int(values[2]))


def _scale_to_u8(values: np.ndarray) -> np.ndarray:
    """Scale any numeric array linearly by its own finite min..max to 0..255 (constant -> 0)."""
    data = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(data)
    out = np.zeros(data.shape, dtype=np.uint8)
    if not finite.any():
        out[np.isposinf(data)] = 255
        return out
    lo = float(data[finite].min())
    hi = float(data[finite].max())
    if hi > lo:
        scaled = (data - lo) * 255.0 / (hi - lo)
        out = np.rint(np.clip(np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0), 0, 255))
        out = out.astype(np.uint8)
    out[np.isposinf(data)] = 255
    return out


def _alpha_to_u8(alpha: np.ndarray) -> np.ndarray:
    if alpha.dtype == np.uint8:
        return alpha
    if alpha.dtype == np.bool_:
        return alpha.astype(np.uint8) * 255
    if np.issubdtype(alpha.dtype, np.integer):
        top = float(np.iinfo(alpha.dtype).max)
        return np.rint(np.clip(alpha.astype(np.float64), 0, top) * (255.0 / top)).astype(np.uint8)
    data = np.nan_to_num(alpha.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(data, 0.0, 1.0) * 255.0).astype(np.uint8)


def _finish(arr: np.ndarray, in_chans: int, background: tuple[int, int, int]) -> np.ndarray:
    """``arr`` is uint8 HxW, HxWx2 (gray+alpha), HxWx3 or HxWx4; composite and set channels."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    channels = arr.shape[2]
    if channels in (2, 4):
        color = arr[:, :, :-1]
        if channels == 2:
            color = np.repeat(color, 3, axis=2)
        alpha = arr[:, :, -1:].astype(np.uint32)
        bg = np.asarray(background, dtype=np.uint32).reshape(1, 1, 3)
        mixed = (color.astype(np.uint32) * alpha + bg * (255 - alpha) + 127) // 255
        arr = mixed.astype(np.uint8)
        channels = 3
    if in_chans == 1 and channels == 3:
        arr = np.asarray(Image.fromarray(np.ascontiguousarray(arr)).convert("L"))[:, :, None]
    elif in_chans == 3 and channels == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _pil_to_u8(img: Image.Image) -> np.ndarray:
    """Bring a PIL image to uint8 L, LA, RGB or RGBA data."""
    mode = img.mode
    if mode in _HIGH_BIT_MODES:
        return _scale_to_u8(np.asarray(img))
    if mode in ("L", "RGB") and "transparency" in img.info:
        return np.asarray(img.convert("RGBA"))
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(img)
    if mode == "1":
        return np.asarray(img.convert("L"))
    if mode in ("P", "PA"):
        return np.asarray(img.convert("RGBA" if img.has_transparency_data else "RGB"))
    if mode == "La":
        return np.asarray(img.convert("LA"))
    if mode == "RGBa":
        return np.asarray(img.convert("RGBA"))
    if mode in ("RGBX", "CMYK", "YCbCr", "HSV"):
        return np.asarray(img.convert("RGB"))
    if mode == "LAB":
        from PIL import ImageCms

        transform = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        return np.asarray(ImageCms.applyTransform(img, transform))
    raise ValueError(f"image mode {mode}")


def to_array(
    img: Image.Image, *, in_chans: int = 3, background: Background = (255, 255, 255)
) -> np.ndarray:
    """Convert a PIL image to a C-contiguous uint8 HxWxC array with C == ``in_chans`` (1 or 3).

    Transparency is composited on ``background`` (RGB); 16-bit, 32-bit and float images are scaled
    by their own min..max range (a constant image becomes 0); RGB -> 1 channel uses Pillow's "L"
    luminance; grayscale -> 3 channels is replicated. Multi-frame images use the first frame.
    """
    _check_rgb_or_gray(in_chans)
    bg = _background_rgb(background)
    path = getattr(img, "filename", "") or None
    path = os.fsdecode(path) if path else None
    if getattr(img, "n_frames", 1) > 1 and img.tell() != 0:
        img.seek(0)
    if img.width <= 0 or img.height <= 0:
        raise ImageDecodeError(
            path, "unreadable", f"image has no pixels ({img.width}x{img.height})"
        )
    try:
        img.load()
    except Exception as exc:
        raise _classify(exc, None, path) from exc
    try:
        data = _pil_to_u8(img)
    except Exception as exc:
        raise ImageDecodeError(path, "unsupported format", str(exc)) from exc
    return _finish(data, in_chans, bg)


def _array_to_u8(arr: np.ndarray) -> np.ndarray:
    """Validate an HxW / HxWxC (C in 1..4) array and bring it to uint8 (see module docstring)."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (2, 3, 4))):
        raise ImageDecodeError(
            None, "unsupported format", f"array shape {arr.shape}; expected HxW or HxWxC, C=1..4"
        )
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ImageDecodeError(None, "unsupported format", f"array dtype {arr.dtype}")
    if arr.dtype == np.uint8:
        return arr
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        color = _scale_to_u8(arr[:, :, :-1])
        alpha = _alpha_to_u8(arr[:, :, -1:])
        return np.concatenate([color, alpha], axis=2)
    return _scale_to_u8(arr)
