"""Segmentation samples as read: the RLE format of the dataset, the samples table, and the threaded
read of every image/mask pair (sizes, mask values, emptiness) that the layouts share."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.data.io import ImageDecodeError
from visionfit.data.masks import (
    MaskSpec,
    decode_mask,
    image_size,
)
from visionfit.errors import DataError


@dataclass
class RleInfo:
    """How the dataset writes its RLE CSV; predictions are written the same way."""

    fmt: str = "kaggle"
    order: str = "F"
    id_col: str = "ImageId"
    rle_col: str = "EncodedPixels"
    empty: str = ""
    id_with_ext: bool = False
    class_col: str = ""  # multi-class CSVs: the class column (ClassId); "" for binary ones

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, d: dict | None) -> RleInfo:
        return cls(**d) if d else cls()


@dataclass
class MaskScan:
    """What reading one image/mask pair found."""

    values: frozenset[int] = frozenset()  # distinct grayscale values, or packed RGB codes
    colour: bool = False
    mask_size: tuple[int, int] | None = None  # (height, width)
    image_size: tuple[int, int] | None = None
    error: str = ""  # why the pair cannot be used ("" if fine)
    bad_file: str = ""  # the file the error is about


@dataclass
class SegSamples:
    df: pd.DataFrame
    spec: MaskSpec
    classes: list[str]
    layout: str  # "folders", "split-folders", "mask-beside", "voc", "rle-csv", "coco", "yolo"
    rle: RleInfo | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    # readable images left out for their annotations (tasks/segmentation/formats.py), and
    # annotations of no image: (image or annotation file, reason, detail)
    dropped: list[tuple[str, str, str]] = field(default_factory=list)
    # the annotation format read ({"format": "coco", "category_ids": ...}; {} for mask files)
    source: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    scans: list[MaskScan] = field(default_factory=list)  # per df row (mask folders only)
    # what stops training (check lists them all; train refuses the data naming the first)
    problems: list[str] = field(default_factory=list)

    @property
    def has_split(self) -> bool:
        return bool((self.df["split"] != "").any())


def _skipped_text(skipped: Sequence[tuple[str, str]]) -> str:
    if not skipped:
        return "none found"
    return f"{len(skipped)} skipped, e.g. " + "; ".join(f"{p}: {r}" for p, r in skipped[:3])


def _find_dir(parent: Path, names: Sequence[str]) -> Path | None:
    if not parent.is_dir():
        return None
    by_lower = {p.name.lower(): p for p in parent.iterdir() if p.is_dir()}
    return next((by_lower[n] for n in names if n in by_lower), None)


def _threads() -> int:
    return max(1, min(8, (os.cpu_count() or 1)))


def scan_pair(image: str, mask: str | None) -> MaskScan:
    """Read an image's header and (if given) its whole mask."""
    out = MaskScan()
    size = image_size(image)
    if size is None:
        out.error, out.bad_file = "image cannot be opened", image
        return out
    out.image_size = (size[1], size[0])
    if mask is None:
        return out
    try:
        raw = decode_mask(mask)
    except ImageDecodeError as e:
        out.error, out.bad_file = f"mask: {e.reason}", mask
        return out
    except DataError as e:
        out.error, out.bad_file = str(e), mask
        return out
    out.mask_size = (int(raw.shape[0]), int(raw.shape[1]))
    if raw.ndim == 3:
        codes = (raw[:, :, 0].astype(np.int64) << 16) | (raw[:, :, 1].astype(np.int64) << 8)
        codes |= raw[:, :, 2]
        out.values, out.colour = frozenset(np.unique(codes).tolist()), True
    elif raw.dtype == np.uint8:
        out.values = frozenset(np.flatnonzero(np.bincount(raw.ravel(), minlength=256)).tolist())
    else:
        out.values = frozenset(np.unique(raw).tolist())
    return out


def scan_pairs(
    pairs: Sequence[tuple[str, str | None]], progress: Callable[[int, int], None] | None = None
) -> list[MaskScan]:
    """`scan_pair` over many pairs with a few threads (Pillow decodes without the GIL)."""
    results: list[MaskScan] = []
    with ThreadPoolExecutor(_threads()) as pool:
        for i, res in enumerate(pool.map(lambda p: scan_pair(*p), pairs)):
            results.append(res)
            if progress is not None:
                progress(i + 1, len(pairs))
    return results


def _is_empty(scan: MaskScan, spec: MaskSpec) -> bool:
    if scan.colour or spec.colour_map:
        zero = {(c[0] << 16) | (c[1] << 8) | c[2] for c, k in spec.colour_map if k == 0}
        vals = scan.values
        if not scan.colour:  # gray mask read through a colour map
            vals = frozenset((v << 16) | (v << 8) | v for v in vals)
        return vals <= zero
    values = scan.values - {spec.ignore_value}  # ignored pixels are no foreground
    if spec.binary and spec.binary_rule == "ge128":
        return max(values, default=0) < 128
    return values <= {0}
