"""Segmentation scores: validation / test images predicted as `visionfit predict` does and
scored against their true masks, and the reader of `visionfit predict --truth` (an RLE CSV or a
folder of masks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from visionfit.data.masks import MaskSpec
from visionfit.data.rle import rle_decode_classes
from visionfit.errors import DataError
from visionfit.fileio import atomic_write_csv
from visionfit.tasks.base import PredictOutputs
from visionfit.tasks.segmentation.metrics import (
    image_stats,
    per_image_dice,
    per_image_iou,
    scored_pixels,
    summarise,
)
from visionfit.tasks.segmentation.targets import load_target
from visionfit.usercsv import read_user_csv


def image_scores(s) -> dict:
    return {
        "dice": float(per_image_dice(s)[0].mean()),
        "iou": float(per_image_iou(s)[0].mean()),
        "pred_pixels": int(s[0, :, 1].sum()),
        "true_pixels": int(s[0, :, 2].sum()),
    }


def evaluate_predictions(
    predictor,
    df: pd.DataFrame,
    data,
    out_dir: Path,
    *,
    progress: bool = False,
    scores_file: str = "val_scores.csv",
) -> dict[str, float]:
    """Predict `df`'s images as `visionfit predict` would, write the masks, the RLE CSV and
    per-image scores (`scores_file`, next to `out_dir`), and return the scores against the true
    masks."""
    if df.empty:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    masks_dir = out_dir / "masks"
    k = predictor.head.num_classes
    stats, rows, correct, pixels = [], [], 0, 0
    preds = predictor.predictions(
        list(df["image"]), PredictOutputs(masks_dir=masks_dir), progress=progress
    )
    for (_, row), mask in zip(df.iterrows(), preds.masks, strict=True):
        truth = load_target(
            row, data.extra["spec"], data.extra["rle"], (int(row["height"]), int(row["width"]))
        )
        if mask is None:
            raise DataError(f"validation image {row['image']} could not be read for scoring")
        ignore = data.extra["spec"].class_ignore  # --ignore-index pixels are not scored
        s = image_stats(torch.from_numpy(mask)[None], torch.from_numpy(truth)[None], k, ignore)
        stats.append(s)
        right, scored = scored_pixels(mask, truth, ignore)
        correct, pixels = correct + right, pixels + scored
        rows.append(
            {
                "id": row["id"],
                "image": row["image"],
                "mask_file": str(masks_dir / f"{Path(row['image']).stem}.png"),
                **image_scores(s),
            }
        )
    atomic_write_csv(out_dir / "predictions.csv", preds.to_frame())
    scores = summarise(
        np.concatenate(stats),
        correct,
        pixels,
        predictor.classes,
        np.asarray(preds.max_prob) if k == 2 else None,
    )
    atomic_write_csv(out_dir.parent / scores_file, pd.DataFrame(rows))
    return scores


def truth_reader(truth: Path, head):
    """stem, shape -> the true class-index mask of that image, or None when it has none."""
    info, k = head.rle, head.num_classes
    if truth.is_file():
        raw = read_user_csv(
            truth,
            required=[info.id_col, info.rle_col],
            what="truth CSV",
            hint="the truth CSV must use the training data's columns",
        ).df
        multi = k != 2 and bool(info.class_col) and info.class_col in raw.columns
        if k != 2 and not multi:
            raise DataError(
                "--truth CSV scoring of a multi-class run needs the training CSV's class column "
                f"({info.class_col or 'ClassId'}); or give a folder of masks"
            )
        classes = raw[info.class_col].str.strip() if multi else pd.Series("1", index=raw.index)
        rows: dict[str, list[tuple[str, int]]] = {}
        ids = raw[info.id_col].str.strip()
        for image_id, c, rle in zip(ids, classes, raw[info.rle_col], strict=True):
            if c and not c.isdigit():
                raise DataError(f"{truth.name}: class id {c!r} of {image_id} is not an integer")
            rows.setdefault(_strip_ext(image_id), []).append((rle, int(c or 0)))

        def from_csv(stem: str, shape) -> np.ndarray | None:
            if stem not in rows:
                return None
            rles, cls = zip(*rows[stem], strict=True)
            where = f"{truth.name} {stem}"
            return rle_decode_classes(rles, cls, shape, fmt=info.fmt, order=info.order, where=where)

        return from_csv
    if truth.is_dir():
        from visionfit.data.io import is_image_file
        from visionfit.data.masks import read_mask

        suffix = head.mask_suffix
        files = {
            p.stem.removesuffix(suffix) if suffix else p.stem: p
            for p in sorted(truth.rglob("*"))
            if p.is_file() and is_image_file(p)
        }
        spec = head.spec or MaskSpec(k)

        def from_folder(stem: str, shape) -> np.ndarray | None:
            return read_mask(files[stem], spec) if stem in files else None

        return from_folder
    raise DataError(f"truth not found: {truth} (an RLE CSV or a folder of masks)")


def _strip_ext(name: str) -> str:
    from visionfit.data.io import is_image_file

    return Path(name).stem if is_image_file(name) else Path(name).name
