"""Mask-folder layouts: where a segmentation dataset's image/mask pairs are.

* DATA/images + DATA/masks (also imgs/, image/; mask/, labels/, annotations/), paired by file name
  without extension (masks may be named `<stem><mask_suffix>.*`);
* already split: DATA/train/... + DATA/val/... (or test/; the split names classification reads),
  each holding one of these layouts;
* masks beside their images in one folder: `x.png` + `x_mask.png` (data/masks.py `beside_suffix`
  states the rule: `--mask-suffix`, else the first of `_mask`, `-mask`, `_seg` that pairs).

`has_mask_folders` is what `--task auto` asks (tasks/segmentation/task.py `claims_layout`):
the folder layouts above but the last, which stays `--task segment` only (a flat folder of
images is classification's file-name layout too).
"""

from __future__ import annotations

from pathlib import Path

from visionfit.config import TaskSection
from visionfit.data.masks import (
    IMAGES_DIR_NAMES,
    MASKS_DIR_NAMES,
    beside_suffix,
    pair_beside,
    pair_images_masks,
)
from visionfit.data.sources import SPLIT_DIR_NAMES
from visionfit.errors import DataError
from visionfit.runs.kind import is_visionfit_dir
from visionfit.tasks.segmentation.pairs import _find_dir


def folder_pairs(folder: Path, seg: TaskSection) -> list[tuple[Path, Path]]:
    """A folder's (image, mask) pairs: images/ + masks/, or masks beside their images."""
    images_dir = _find_dir(folder, IMAGES_DIR_NAMES)
    masks_dir = _find_dir(folder, MASKS_DIR_NAMES)
    if images_dir is None and masks_dir is None:
        suffix = beside_suffix(folder, seg.mask_suffix, is_visionfit_dir)
        if suffix:
            return pair_beside(folder, suffix, skip_dir=is_visionfit_dir)
    if images_dir is None or masks_dir is None:
        missing = "images/" if images_dir is None else "masks/"
        raise DataError(f"{folder} has no {missing} folder (next to its images/ or masks/)")
    return pair_images_masks(
        images_dir, masks_dir, mask_suffix=seg.mask_suffix, skip_dir=is_visionfit_dir
    )


def _split_dirs(root: Path) -> dict[Path, str]:
    return {
        d: SPLIT_DIR_NAMES[d.name.lower()]
        for d in sorted(root.iterdir())
        if d.is_dir() and d.name.lower() in SPLIT_DIR_NAMES
    }


def _is_split(split_dirs: dict[Path, str]) -> bool:
    return "train" in split_dirs.values() and bool({"val", "test"} & set(split_dirs.values()))


def _has_pair_dirs(folder: Path) -> bool:
    return _find_dir(folder, IMAGES_DIR_NAMES) is not None and (
        _find_dir(folder, MASKS_DIR_NAMES) is not None
    )


def has_mask_folders(root: Path) -> bool:
    """Whether `root` has the mask-folder layout `mask_folder_parts` reads (`--task auto`
    picks segmentation for it): images/ + masks/, at the top or in every split folder."""
    if not root.is_dir():
        return False
    if _has_pair_dirs(root):
        return True
    split_dirs = _split_dirs(root)
    return _is_split(split_dirs) and all(_has_pair_dirs(d) for d in split_dirs)


def mask_folder_parts(root: Path, mask_suffix: str) -> tuple[list[tuple[Path, str]], str]:
    """The (folder, split) pairs holding images/ + masks/, and the layout's name."""
    if not root.exists():
        raise DataError(f"data folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"expected a folder with images/ and masks/, got a file: {root}")
    split_dirs = _split_dirs(root)
    if _find_dir(root, IMAGES_DIR_NAMES) is not None:
        return [(root, "")], "folders"
    if _is_split(split_dirs):
        return list(split_dirs.items()), "split-folders"
    if beside_suffix(root, mask_suffix, is_visionfit_dir):
        return [(root, "")], "mask-beside"
    raise DataError(
        f"{root} has no images/ and masks/ folders: expected {root}/images/* with masks in "
        f"{root}/masks/* (or {root}/train/images, {root}/train/masks, {root}/val/...), or "
        f"masks beside their images ({root}/x.png + {root}/x_mask.png; --mask-suffix for "
        "another ending)"
    )
