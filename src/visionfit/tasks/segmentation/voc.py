"""Pascal VOC segmentation: `JPEGImages/`, `SegmentationClass/` and `ImageSets/Segmentation/`.

* Detection (`--format auto`): DATA holds `SegmentationClass/` and `JPEGImages/`, or exactly one
  folder at most two levels below DATA does (`VOCdevkit/` -> `VOCdevkit/VOC2012/`).
* Masks: `SegmentationClass/<id>.png`, palette ("P") PNGs whose palette index is the class
  (data/masks.py `decode_mask` reads the indices, never the colours); each pairs with
  `JPEGImages/<id>.*`. Images without a mask are not segmentation samples and are not read.
* 255 (VOC's "void" object boundaries) is the ignore value unless `--ignore-index` says another;
  the other values are class indices (`--mask-values index`), K = the largest + 1 or
  `--num-classes`; 21 classes are named with VOC's names unless `--class-names` says others.
* Splits (`ImageSets/Segmentation/*.txt`, one id a line): train.txt -> train, val.txt -> val,
  test.txt -> test (ids with a mask; VOC's own test ids have none). trainval.txt is read only
  when there is neither train.txt nor val.txt: its ids are used and --val-fraction splits them.
  With split files, a mask whose id none lists is left out (a note counts them); with none,
  every mask is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from visionfit.config import DataConfig
from visionfit.data.io import is_image_file
from visionfit.errors import DataError

VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
VOC_IGNORE = 255
MASKS, IMAGES, SETS = "SegmentationClass", "JPEGImages", ("ImageSets", "Segmentation")
SPLIT_FILES = (("train.txt", "train"), ("val.txt", "val"), ("test.txt", "test"))


def _is_voc_dir(path: Path) -> bool:
    return (path / MASKS).is_dir() and (path / IMAGES).is_dir()


def voc_candidates(path: Path) -> list[Path]:
    """The folders holding SegmentationClass/ + JPEGImages/: `path` itself, else those at most
    two levels below it."""
    if not path.is_dir():
        return []
    if _is_voc_dir(path):
        return [path]
    found = [d for d in _subdirs(path) if _is_voc_dir(d)]
    return found + [g for d in _subdirs(path) for g in _subdirs(d) if _is_voc_dir(g)]


def voc_root(path: Path) -> Path | None:
    """The one VOC folder at or below `path` (None when there is none or several)."""
    found = voc_candidates(path)
    return found[0] if len(found) == 1 else None


def _subdirs(path: Path) -> list[Path]:
    # scandir: the entry types come with the listing (no stat per file in a folder of images)
    try:
        with os.scandir(path) as it:
            names = [e.name for e in it if e.is_dir() and not e.name.startswith(".")]
    except OSError:
        return []
    return [path / n for n in sorted(names)]


def find_voc(path: Path) -> Path:
    """`voc_root`, or a DataError saying what a VOC folder needs (--format voc)."""
    found = voc_candidates(path)
    if len(found) > 1:
        raise DataError(
            f"{path} holds {len(found)} Pascal VOC folders ({', '.join(map(str, found[:3]))}): "
            "give the one to read as DATA"
        )
    if not found:
        raise DataError(
            f"{path} is not a Pascal VOC folder: expected {path}/{MASKS}/ (palette PNGs) and "
            f"{path}/{IMAGES}/ (or VOCdevkit/VOC2012/ holding them, once)"
        )
    return found[0]


def voc_data(data: DataConfig) -> DataConfig:
    """VOC's conventions where the user said nothing: 255 = ignore, values = class indices."""
    update: dict = {}
    if data.ignore_index is None:
        update["ignore_index"] = VOC_IGNORE
    if data.mask_values == "auto":
        update["mask_values"] = "index"
    return data.model_copy(update=update)


def voc_class_names(k: int) -> list[str] | None:
    return list(VOC_CLASSES) if k == len(VOC_CLASSES) else None


def voc_rows(root: Path) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str]], list]:
    """(image, id, mask, split) per usable mask, (path, reason) for masks left out, and notes."""
    masks = {p.stem: p for p in sorted((root / MASKS).iterdir()) if is_image_file(p)}
    if not masks:
        raise DataError(f"no mask PNGs in {root / MASKS}")
    images: dict[str, Path] = {}
    for p in sorted((root / IMAGES).iterdir()):
        if p.stem in masks and is_image_file(p):
            images.setdefault(p.stem, p)
    split_of, notes = _splits(root, set(masks))
    rows, skipped = [], []
    for stem, mask in masks.items():
        if split_of is not None and stem not in split_of:
            continue
        if stem not in images:
            skipped.append((str(mask), f"no image {stem}.* in {IMAGES}/"))
            continue
        split = "" if split_of is None else split_of[stem]
        rows.append((str(images[stem].resolve()), stem, str(mask.resolve()), split))
    return rows, skipped, notes


def _read_ids(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def _splits(root: Path, have: set[str]) -> tuple[dict[str, str] | None, list[str]]:
    """id -> split from ImageSets/Segmentation (None without split files), and notes."""
    sets = root.joinpath(*SETS)
    files = [(sets / f, s) for f, s in SPLIT_FILES if (sets / f).is_file()]
    if not any(s in ("train", "val") for _, s in files) and (sets / "trainval.txt").is_file():
        files = [(sets / "trainval.txt", "")] + [(f, s) for f, s in files if s == "test"]
    if not files:
        return None, []
    split_of: dict[str, str] = {}
    notes: list[str] = []
    for path, split in files:
        ids = _read_ids(path)
        for i in ids:
            if i in split_of and split_of[i] != split:
                raise DataError(
                    f"{i} is listed in two split files of {sets} ({split_of[i]} and {split}); "
                    "an image belongs to one split"
                )
            split_of[i] = split
        no_mask = [i for i in ids if i not in have]
        if no_mask and split != "test":
            notes.append(f"{len(no_mask)} ids in {path.name} have no mask in {MASKS}/ (left out)")
    unlisted = len(have - set(split_of))
    if unlisted:
        notes.append(f"{unlisted} masks are in no split file of {sets} (left out)")
    return {i: s for i, s in split_of.items() if i in have}, notes
