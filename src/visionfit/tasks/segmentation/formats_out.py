"""Segmentation predictions written in a dataset's own format (`visionfit predict --format F`):

* voc: `--out` is a new folder of palette PNGs, `<stem>.png`, one per readable input, whose
  palette index is the predicted class and whose colours are VOC's (class 1 dark red, ...); the
  folder reads back as a VOC `SegmentationClass/`.
* rle: `--out` is a CSV `ImageId,ClassId,EncodedPixels` (the run's id, class and RLE column
  names; its RLE format, pixel order and id spelling), one row per image and predicted class
  with a non-empty mask, classes ascending. An image with no predicted class gets one row of
  ClassId 0 and an empty mask, so that it stays listed; `visionfit train` reads the file back
  (unreadable inputs get no row: predict counts them).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from visionfit.data.masks import voc_palette
from visionfit.errors import DataError
from visionfit.fileio import create_exclusive

PREDICT_FORMATS = ("voc", "rle", "coco", "yolo")  # coco, yolo: write_formats.py
CLASS_COL = "ClassId"


def check_format(fmt: str) -> None:
    if fmt not in PREDICT_FORMATS:
        raise DataError(
            f"--format {fmt!r}: segmentation predictions are written as "
            f"{' | '.join(PREDICT_FORMATS)} (or without --format: CSV + mask PNGs)"
        )


def write_voc_pngs(folder: Path, names: list[str], masks: list) -> int:
    """One palette PNG per mask (None = an unreadable input: no file); returns how many."""
    palette = voc_palette()
    n = 0
    for name, mask in zip(names, masks, strict=True):
        if mask is None:
            continue
        img = Image.fromarray(np.asarray(mask, np.uint8), "P")
        img.putpalette(palette)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        create_exclusive(Path(folder) / f"{name}.png", buf.getvalue(), flag="--out")
        n += 1
    return n


def rle_table(ids: list[str], rles: list[list[str]], errors: list[str], info) -> pd.DataFrame:
    """The `--format rle` table from each input's RLE per foreground class (MaskPredictions.rles,
    class 1 first); unreadable inputs (an error) are left out."""
    class_col = info.class_col or CLASS_COL
    rows = []
    for image_id, per_class, err in zip(ids, rles, errors, strict=True):
        if err:
            continue
        found = [(c, r) for c, r in enumerate(per_class, start=1) if r != info.empty]
        for c, rle in found:
            rows.append({info.id_col: image_id, class_col: c, info.rle_col: rle})
        if not found:
            rows.append({info.id_col: image_id, class_col: 0, info.rle_col: info.empty})
    return pd.DataFrame(rows, columns=[info.id_col, class_col, info.rle_col])
