"""Albumentations presets, one ladder for every task. Images arrive as uint8 HxWxC arrays;
tensors leave normalised. A mask passed with its image (`t(image=..., mask=...)`) gets the same
geometric transforms with nearest-neighbour interpolation, so class indices stay exact.

  none    resize
  light   + horizontal flip
  medium  + shift-scale-rotate, brightness/contrast
  heavy   + coarse dropout (image only), gamma
  trivial horizontal flip + TrivialAugment (Müller & Hutter 2021): one operation per image drawn
          from a wide set, at a uniformly drawn strength

albumentations has no RandAugment / TrivialAugment, and torchvision's `TrivialAugmentWide` draws
from torch's global generator on tensors: it would escape the per-sample seeding that makes a
resumed run repeat its augmentation (data/datasets.py) and could not move a mask with its image.
So TrivialAugment is built here as an albumentations `OneOf` over the same operations, each with
torchvision's "wide" strength range drawn uniformly, seeded like every other preset.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
import numpy as np
from albumentations.pytorch import ToTensorV2

from visionfit.data.preprocess import CROP_RATIO, Preprocess, scale_size
from visionfit.errors import DataError

PRESETS = ("none", "light", "medium", "heavy", "trivial")


def create_transforms(
    preset: str,
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    train: bool,
    pre: Preprocess | None = None,
) -> A.Compose:
    """Build the pipeline for one stage; evaluation uses only resize + normalise. `pre`: how
    the image becomes an img_size square (data/preprocess.py; default squash, area); its
    img_size, mean and std are the ones given here (`transforms_for` passes all from `pre`).

    >>> t = create_transforms("light", 64, (0.5,) * 3, (0.5,) * 3, train=True)
    """
    if preset not in PRESETS:
        raise DataError(f"unknown augmentation preset {preset!r}; choose from {', '.join(PRESETS)}")
    nearest = {"mask_interpolation": cv2.INTER_NEAREST}
    ops: list = resize_ops(pre or Preprocess(img_size), train=train)
    if train and preset in ("light", "medium", "heavy", "trivial"):
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
    if train and preset == "trivial":
        ops.append(_trivial_augment(nearest))
    ops += [A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0), ToTensorV2()]
    return A.Compose(ops)


def transforms_for(preset: str, pre: Preprocess, *, train: bool) -> A.Compose:
    """The pipeline of a run's resolved preprocessing (evaluation: preset "none")."""
    return create_transforms(preset, pre.img_size, pre.mean, pre.std, train=train, pre=pre)


def eval_transforms(meta: dict) -> A.Compose:
    """What a bundle's model.json says training's evaluation applied (predict, serve, Grad-CAM)."""
    return transforms_for("none", Preprocess.from_meta(meta), train=False)


def resize_ops(pre: Preprocess, *, train: bool) -> list:
    """The first ops of every pipeline: the image (and mask) to an img_size square."""
    if pre.resize == "crop" and train:
        return [
            A.RandomResizedCrop(
                size=(pre.img_size, pre.img_size),
                scale=tuple(pre.crop_scale),
                ratio=CROP_RATIO,
                interpolation=_CV2[pre.interpolation],
                mask_interpolation=cv2.INTER_NEAREST,
            )
        ]
    return [FitSquare(pre.resize, pre.img_size, pre.interpolation, pre.crop_pct)]


_CV2 = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


class FitSquare(A.DualTransform):
    """Deterministic: squash, pad, or (evaluation) shorter side + centre crop to a square.

    squash/pad: an array that already is the target square is returned unchanged, so a cache
    that stored this op's output (data/cache.py) gives the same tensors as decoding the file."""

    def __init__(self, mode: str, size: int, interpolation: str, crop_pct: float, p: float = 1.0):
        super().__init__(p=p)
        self.mode, self.size = mode, int(size)
        self.interpolation, self.crop_pct = interpolation, float(crop_pct)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("mode", "size", "interpolation", "crop_pct")

    def apply(self, img, **params):
        return _fit_square(img, self, self.interpolation, 0)

    def apply_to_mask(self, mask, **params):
        # OpenCV's nearest beside area (as before these options), else Pillow's, as the image
        return _fit_square(mask, self, "nearest" if self.interpolation != "area" else "cv2", 0)


def _fit_square(arr, op: FitSquare, interpolation: str, fill: int):
    h, w = arr.shape[:2]
    s = op.size
    if (h, w) == (s, s) and op.mode != "crop":
        return arr
    if op.mode == "squash":
        return _resample(arr, s, s, interpolation)
    if op.mode == "pad":
        scale = s / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        arr = _resample(arr, nh, nw, interpolation)
        top, left = (s - nh) // 2, (s - nw) // 2
        pad = [(top, s - nh - top), (left, s - nw - left)] + [(0, 0)] * (arr.ndim - 2)
        return np.pad(arr, pad, constant_values=fill)
    # crop, as torchvision's Resize(shorter side) + CenterCrop (what timm evaluates with)
    short = scale_size(s, op.crop_pct)
    if w <= h:
        nw, nh = short, int(short * h / w)
    else:
        nh, nw = short, int(short * w / h)
    arr = _resample(arr, nh, nw, interpolation)
    top, left = int(round((nh - s) / 2.0)), int(round((nw - s) / 2.0))
    return arr[top : top + s, left : left + s]


def _resample(arr, h: int, w: int, interpolation: str):
    """Pillow's resampling for all but area (OpenCV INTER_AREA) and "cv2" (OpenCV's nearest, for
    masks beside area); keeps a trailing channel axis."""
    if arr.shape[:2] == (h, w):
        return arr
    if interpolation in ("area", "cv2"):
        code = cv2.INTER_AREA if interpolation == "area" else cv2.INTER_NEAREST
        out = cv2.resize(arr, (w, h), interpolation=code)
    else:
        from PIL import Image

        squeeze = arr.ndim == 3 and arr.shape[2] == 1
        img = Image.fromarray(arr[:, :, 0] if squeeze else arr)
        out = np.array(img.resize((w, h), _PIL[interpolation]))
    return out[:, :, None] if arr.ndim == 3 and out.ndim == 2 else out


_PIL = {"nearest": 0, "bilinear": 2, "bicubic": 3, "lanczos": 1}  # PIL.Image.Resampling


def _trivial_augment(nearest: dict) -> A.OneOf:
    """TrivialAugmentWide's operations and ranges (torchvision) as one albumentations OneOf."""
    reflect = {"border_mode": cv2.BORDER_CONSTANT, "fill": 0, **nearest}
    return A.OneOf(
        [
            A.NoOp(),
            A.Affine(shear={"x": (-31, 31), "y": 0}, p=1.0, **reflect),
            A.Affine(shear={"x": 0, "y": (-31, 31)}, p=1.0, **reflect),
            A.Affine(translate_percent={"x": (-0.32, 0.32), "y": 0}, p=1.0, **reflect),
            A.Affine(translate_percent={"x": 0, "y": (-0.32, 0.32)}, p=1.0, **reflect),
            A.Affine(rotate=(-135, 135), p=1.0, **reflect),
            A.ColorJitter(brightness=0.99, contrast=0, saturation=0, hue=0, p=1.0),
            A.ColorJitter(brightness=0, contrast=0.99, saturation=0, hue=0, p=1.0),
            A.ColorJitter(brightness=0, contrast=0, saturation=0.99, hue=0, p=1.0),
            A.Sharpen(alpha=(0.0, 0.99), lightness=(1.0, 1.0), p=1.0),
            A.Posterize(num_bits=(2, 8), p=1.0),
            A.Solarize(threshold_range=(0.0, 1.0), p=1.0),
            A.AutoContrast(p=1.0),
            A.Equalize(p=1.0),
        ],
        p=1.0,
    )
