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
from albumentations.pytorch import ToTensorV2

from visionfit.errors import DataError

PRESETS = ("none", "light", "medium", "heavy", "trivial")


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
