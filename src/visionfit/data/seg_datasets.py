"""Segmentation samples as tensors: image and mask decoded, augmented together (albumentations).

Presets (training only; evaluation resizes and normalises):

  none    resize
  light   + horizontal flip
  medium  + shift-scale-rotate, brightness/contrast, gamma
  heavy   + vertical flip, coarse dropout (image only), stronger shift-scale-rotate

Masks are resized with nearest-neighbour interpolation, so class indices stay exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
import numpy as np
import pandas as pd
import torch
from albumentations.pytorch import ToTensorV2
from torch.utils.data import Dataset

from visionfit.data.io import decode_image
from visionfit.data.masks import MaskSpec, read_mask
from visionfit.data.rle import rle_decode_rows
from visionfit.data.seg_sources import RleInfo
from visionfit.errors import DataError

SEG_PRESETS = ("none", "light", "medium", "heavy")


def create_seg_transforms(
    preset: str,
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    train: bool,
) -> A.Compose:
    """The albumentations pipeline for image + mask; call it as t(image=..., mask=...).

    >>> t = create_seg_transforms("medium", 64, (0.5,) * 3, (0.5,) * 3, train=True)
    """
    if preset not in SEG_PRESETS:
        raise DataError(f"unknown augmentation preset {preset!r}; choose from {SEG_PRESETS}")
    ops: list = [
        A.Resize(
            img_size,
            img_size,
            interpolation=cv2.INTER_LINEAR,
            mask_interpolation=cv2.INTER_NEAREST,
        )
    ]
    if train and preset in ("light", "medium", "heavy"):
        ops.append(A.HorizontalFlip(p=0.5))
    if train and preset in ("medium", "heavy"):
        strong = preset == "heavy"
        ops += [
            A.Affine(
                translate_percent=(-0.1, 0.1) if strong else (-0.0625, 0.0625),
                scale=(0.8, 1.2) if strong else (0.9, 1.1),
                rotate=(-30, 30) if strong else (-15, 15),
                border_mode=cv2.BORDER_REFLECT_101,
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                p=0.5,
            ),
            A.RandomBrightnessContrast(0.2, 0.2, p=0.5),
            A.RandomGamma(gamma_limit=(80, 120), p=0.5),
        ]
    if train and preset == "heavy":
        ops += [
            A.VerticalFlip(p=0.5),
            A.CoarseDropout(
                num_holes_range=(1, 6),
                hole_height_range=(0.05, 0.12),
                hole_width_range=(0.05, 0.12),
                p=0.3,
            ),
        ]
    ops += [A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0), ToTensorV2()]
    return A.Compose(ops)


def load_target(row, spec: MaskSpec, rle: RleInfo | None, shape: tuple[int, int]) -> np.ndarray:
    """The class-index mask (uint8, H x W) of one samples-table row, at the image's size."""
    if row["mask"]:
        mask = read_mask(row["mask"], spec)
    else:
        info = rle or RleInfo()
        mask = rle_decode_rows(
            row["rle"], shape, fmt=info.fmt, order=info.order, where=f"RLE of {row['id']}"
        )
    if mask.shape != tuple(shape):
        raise DataError(
            f"mask of {row['image']} is {mask.shape[1]}x{mask.shape[0]}, the image "
            f"{shape[1]}x{shape[0]}; `visionfit check DATA --task segment` lists such pairs"
        )
    return mask


class SegDataset(Dataset):
    """Rows of a segmentation samples table -> (image tensor C x H x W, mask tensor H x W long)."""

    def __init__(
        self,
        df: pd.DataFrame,
        spec: MaskSpec,
        transform,
        *,
        in_chans: int = 3,
        rle: RleInfo | None = None,
    ):
        self.rows = df[["image", "id", "mask", "rle"]].to_dict("records")
        self.spec, self.transform, self.in_chans, self.rle = spec, transform, in_chans, rle

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        row = self.rows[i]
        image = decode_image(row["image"], in_chans=self.in_chans)
        mask = load_target(row, self.spec, self.rle, image.shape[:2])
        out = self.transform(image=image, mask=mask)
        x, y = out["image"], out["mask"]
        if x.ndim == 2:
            x = x.unsqueeze(0)
        return x, torch.as_tensor(y, dtype=torch.long)
