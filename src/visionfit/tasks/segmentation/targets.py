"""Segmentation targets: the class-index mask of each sample, read when its image is loaded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from visionfit.data.masks import MaskSpec, read_mask
from visionfit.data.rle import rle_decode_classes
from visionfit.data.shapes import paint_shapes
from visionfit.errors import DataError
from visionfit.tasks.segmentation.sources import RleInfo


def load_target(row, spec: MaskSpec, rle: RleInfo | None, shape: tuple[int, int]) -> np.ndarray:
    """The class-index mask (uint8, H x W) of one samples-table row, at the image's size."""
    if row["mask"]:
        mask = read_mask(row["mask"], spec)
    elif row.get("shapes"):  # coco / yolo regions (data/shapes.py: the overlap rule)
        mask = paint_shapes(row["shapes"], shape, crowd_value=spec.class_ignore)
    else:
        info = rle or RleInfo()
        classes = row.get("rle_class") or (1,) * len(row["rle"])
        mask = rle_decode_classes(
            row["rle"],
            classes,
            shape,
            fmt=info.fmt,
            order=info.order,
            where=f"RLE of {row['id']}",
        )
    if mask.shape != tuple(shape):
        raise DataError(
            f"mask of {row['image']} is {mask.shape[1]}x{mask.shape[0]}, the image "
            f"{shape[1]}x{shape[0]}; `visionfit check DATA --task segment` lists such pairs"
        )
    return mask


class MaskTargets:
    """What the one dataset class (data/datasets.py) calls for sample i: its mask, read from a
    mask file or decoded from RLE at the decoded image's size."""

    def __init__(self, df: pd.DataFrame, spec: MaskSpec, rle: RleInfo | None):
        extra = [c for c in ("rle_class", "shapes") if c in df]  # multi-class RLE; coco / yolo
        cols = ["image", "id", "mask", "rle", *extra]
        self.rows = df[cols].to_dict("records")
        self.spec, self.rle = spec, rle

    def __len__(self) -> int:
        return len(self.rows)

    def __call__(self, i: int, shape: tuple[int, int]) -> np.ndarray:
        return load_target(self.rows[i], self.spec, self.rle, shape)
