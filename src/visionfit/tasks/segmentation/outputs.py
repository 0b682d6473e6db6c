"""Segmentation predictions: masks at each image's original size, mask PNGs, overlays, the RLE
CSV in the training data's own format, and scores against true masks."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from visionfit.data.io import decode_image
from visionfit.data.masks import MaskSpec
from visionfit.data.rle import rle_decode_rows, rle_encode
from visionfit.data.seg_sources import RleInfo
from visionfit.errors import DataError
from visionfit.fileio import atomic_write_bytes, atomic_write_csv
from visionfit.tasks.segmentation.metrics import (
    image_stats,
    per_image_dice,
    per_image_iou,
    summarise,
)
from visionfit.tasks.segmentation.postprocess import postprocess_binary
from visionfit.tasks.segmentation.targets import load_target
from visionfit.usercsv import read_user_csv


@dataclass
class MaskHead:
    """How a segmentation run turns probabilities into masks and writes them (from model.json)."""

    num_classes: int
    threshold: float
    min_area: float
    rle: RleInfo
    spec: MaskSpec | None
    mask_suffix: str = ""

    @classmethod
    def from_meta(cls, meta: dict) -> MaskHead:
        return cls(
            num_classes=int(meta["num_classes"]),
            threshold=float(meta.get("threshold", 0.5)),
            min_area=float(meta.get("min_area", 0.0)),
            rle=RleInfo.from_json(meta.get("rle")),
            spec=MaskSpec.from_json(meta["mask_spec"]) if meta.get("mask_spec") else None,
            mask_suffix=meta.get("mask_suffix", ""),
        )

    def to_mask(self, probs: torch.Tensor, h: int, w: int) -> tuple[np.ndarray, float]:
        """Class-index mask at (h, w) from one image's (K, h', w') probabilities, and its largest
        foreground probability (binary; NaN otherwise)."""
        up = F.interpolate(probs[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        if self.num_classes == 2:
            fg = up[1].numpy()
            return postprocess_binary(fg, self.threshold, self.min_area), float(probs[1].max())
        return up.argmax(0).numpy().astype(np.uint8), float("nan")


def predict_masks(
    predictor,
    items: list,
    *,
    batch_size: int = 8,
    tta: bool | str | None = None,
    workers: int = 0,
    progress: bool = False,
) -> tuple[list[np.ndarray | None], list[str], list[float]]:
    """Class-index masks (uint8, each image's original size), errors ("" if fine), and per
    image the largest foreground probability (binary; NaN otherwise)."""
    head: MaskHead = predictor.head
    masks: list[np.ndarray | None] = []
    errors: list[str] = []
    max_prob: list[float] = []
    for probs, errs, sizes in predictor.iter_batches(
        items, batch_size=batch_size, tta=tta, workers=workers, progress=progress
    ):
        for j, err in enumerate(errs):
            if err:
                masks.append(None)
                errors.append(err)
                max_prob.append(float("nan"))
                continue
            m, mp = head.to_mask(probs[j], *sizes[j])
            masks.append(m)
            errors.append("")
            max_prob.append(mp)
    return masks, errors, max_prob


def prediction_table(
    predictor,
    items: list,
    *,
    masks_dir: str | Path | None = None,
    overlays_dir: str | Path | None = None,
    batch_size: int = 8,
    tta: bool | str | None = None,
    workers: int = 0,
    keep_masks: bool = False,
    progress: bool = False,
) -> pd.DataFrame:
    """Predict masks and return the RLE table in the training data's format.

    Binary: columns `<id_col>, <rle_col>` (ImageId, EncodedPixels by default), one row per
    image, the id being the file name without extension (with it when the training CSV's
    ids had one). Multi-class: `<id_col>, ClassId, <rle_col>`, one row per image and
    foreground class. An unreadable input gets an empty mask and its reason in an `error`
    column. With `masks_dir`, writes `<stem>.png` per image (0/255 for binary, class indices
    otherwise); with `overlays_dir`, the image with its mask drawn over it.
    """
    head: MaskHead = predictor.head
    names = [_stem(x, i) for i, x in enumerate(items)]
    for folder in (masks_dir, overlays_dir):
        if folder is not None:
            _prepare_out_dir(Path(folder), names)
    masks, errors, max_prob = predict_masks(
        predictor, items, batch_size=batch_size, tta=tta, workers=workers, progress=progress
    )
    info, k = head.rle, head.num_classes
    rows = []
    for i, (item, mask, err) in enumerate(zip(items, masks, errors, strict=True)):
        image_id = _image_id(item, i, info.id_with_ext)
        if mask is not None and masks_dir is not None:
            out = mask * 255 if k == 2 else mask
            _write_png(Path(masks_dir) / f"{names[i]}.png", out.astype(np.uint8))
        if mask is not None and overlays_dir is not None:
            _write_png(Path(overlays_dir) / f"{names[i]}.png", overlay(item, mask))
        for c in [1] if k == 2 else list(range(1, k)):
            rle = (
                info.empty
                if mask is None
                else rle_encode(mask == c, fmt=info.fmt, order=info.order, empty=info.empty)
            )
            row = {info.id_col: image_id}
            if k > 2:
                row["ClassId"] = c
            row[info.rle_col] = rle
            if any(errors):
                row["error"] = err
            rows.append(row)
    predictor.last_masks = masks if keep_masks else []
    predictor.last_max_prob = max_prob
    return pd.DataFrame(rows)


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
    stats, rows, correct, pixels, max_probs = [], [], 0, 0, []
    pred_table = predictor.predict(
        list(df["image"]), masks_dir=masks_dir, keep_masks=True, progress=progress
    )
    for (_, row), mask, mp in zip(
        df.iterrows(), predictor.last_masks, predictor.last_max_prob, strict=True
    ):
        truth = load_target(
            row, data.extra["spec"], data.extra["rle"], (int(row["height"]), int(row["width"]))
        )
        if mask is None:
            raise DataError(f"validation image {row['image']} could not be read for scoring")
        s = image_stats(torch.from_numpy(mask)[None], torch.from_numpy(truth)[None], k)
        stats.append(s)
        correct += int((mask == truth).sum())
        pixels += truth.size
        max_probs.append(mp)
        d, j = per_image_dice(s)[0], per_image_iou(s)[0]
        rows.append(
            {
                "id": row["id"],
                "image": row["image"],
                "mask_file": str(masks_dir / f"{Path(row['image']).stem}.png"),
                "dice": float(d.mean()),
                "iou": float(j.mean()),
                "pred_pixels": int(s[0, :, 1].sum()),
                "true_pixels": int(s[0, :, 2].sum()),
            }
        )
    atomic_write_csv(out_dir / "predictions.csv", pred_table)
    scores = summarise(
        np.concatenate(stats),
        correct,
        pixels,
        predictor.classes,
        np.asarray(max_probs) if k == 2 else None,
    )
    atomic_write_csv(out_dir.parent / scores_file, pd.DataFrame(rows))
    return scores


def score_predictions(
    predictor,
    items: Sequence,
    masks: Sequence[np.ndarray | None],
    truth: str | Path,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Score predicted masks against true ones: an RLE CSV in the run's format (its id and RLE
    columns; ids matched by file name without extension) or a folder of mask files
    (`<stem><mask suffix>.*`, read with the run's mask convention).

    Returns the metrics of tasks/seg_metrics.py and one row per scored image. Inputs without a
    true mask are left out and counted in `unmatched`.
    """
    truth = Path(truth)
    info, k = predictor.head.rle, predictor.head.num_classes
    if truth.is_file():
        raw = read_user_csv(
            truth,
            required=[info.id_col, info.rle_col],
            what="truth CSV",
            hint="the truth CSV must use the training data's columns",
        ).df
        if k != 2:
            raise DataError("--truth CSV scoring is for binary runs; give a folder of masks")
        rows: dict[str, list[str]] = {}
        for image_id, rle in zip(raw[info.id_col].str.strip(), raw[info.rle_col], strict=True):
            rows.setdefault(_strip_ext(image_id), []).append(rle)

        def true_mask(stem: str, shape) -> np.ndarray | None:
            if stem not in rows:
                return None
            return rle_decode_rows(
                rows[stem], shape, fmt=info.fmt, order=info.order, where=f"{truth.name} {stem}"
            )

    elif truth.is_dir():
        from visionfit.data.io import is_image_file
        from visionfit.data.masks import read_mask

        suffix = predictor.head.mask_suffix
        files = {
            p.stem.removesuffix(suffix) if suffix else p.stem: p
            for p in sorted(truth.rglob("*"))
            if p.is_file() and is_image_file(p)
        }
        spec = predictor.head.spec or MaskSpec(k)

        def true_mask(stem: str, shape) -> np.ndarray | None:
            return read_mask(files[stem], spec) if stem in files else None

    else:
        raise DataError(f"truth not found: {truth} (an RLE CSV or a folder of masks)")

    stats, table, correct, pixels, max_prob = [], [], 0, 0, []
    probs = predictor.last_max_prob if len(predictor.last_max_prob) == len(masks) else None
    for i, (item, mask) in enumerate(zip(items, masks, strict=True)):
        stem = _stem(item, i)
        if mask is None:
            continue
        t = true_mask(stem, mask.shape)
        if t is None:
            continue
        if t.shape != mask.shape:
            raise DataError(f"true mask of {stem} is {t.shape[::-1]}, the image {mask.shape[::-1]}")
        s = image_stats(torch.from_numpy(mask)[None], torch.from_numpy(t)[None], k)
        stats.append(s)
        correct += int((mask == t).sum())
        pixels += t.size
        if probs is not None:
            max_prob.append(probs[i])
        table.append(
            {
                "image": str(item),
                "dice": float(per_image_dice(s)[0].mean()),
                "iou": float(per_image_iou(s)[0].mean()),
                "pred_pixels": int(s[0, :, 1].sum()),
                "true_pixels": int(s[0, :, 2].sum()),
            }
        )
    if not stats:
        raise DataError(f"no predicted image has a true mask in {truth} (matched by file stem)")
    scores = summarise(
        np.concatenate(stats),
        correct,
        pixels,
        predictor.classes,
        np.asarray(max_prob) if (k == 2 and probs is not None) else None,
    )
    scores["scored"] = float(len(stats))
    scores["unmatched"] = float(sum(m is not None for m in masks) - len(stats))
    return scores, pd.DataFrame(table)


def _strip_ext(name: str) -> str:
    from visionfit.data.io import is_image_file

    return Path(name).stem if is_image_file(name) else Path(name).name


def _stem(item, i: int) -> str:
    return Path(item).stem if isinstance(item, (str, Path)) else f"input_{i:05d}"


def _image_id(item, i: int, with_ext: bool) -> str:
    if isinstance(item, (str, Path)):
        return Path(item).name if with_ext else Path(item).stem
    return f"input_{i:05d}"


def _prepare_out_dir(folder: Path, names: list[str]) -> None:
    """Refuse to overwrite: the folder must be new or empty, and output names unique."""
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    dup = [n for n, c in seen.items() if c > 1]
    if dup:
        raise DataError(
            f"{len(dup)} input names occur twice (e.g. {dup[0]!r}); mask files are named after "
            "the input file name, so give inputs with distinct names"
        )
    if folder.exists() and any(folder.iterdir()):
        raise DataError(f"{folder} is not empty; choose a new folder (files are never overwritten)")
    folder.mkdir(parents=True, exist_ok=True)


def _write_png(path: Path, arr: np.ndarray) -> None:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


_PALETTE = np.array(
    [
        [0, 0, 0],
        [255, 40, 40],
        [40, 200, 60],
        [50, 120, 255],
        [255, 200, 0],
        [200, 60, 255],
        [0, 220, 220],
        [255, 120, 180],
    ],
    dtype=np.float32,
)


def overlay(item, mask: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The image (RGB) with each foreground class tinted in its own colour."""
    img = decode_image(item, in_chans=3).astype(np.float32)
    colours = _PALETTE[np.minimum(mask, len(_PALETTE) - 1)]
    colours[mask >= len(_PALETTE)] = _PALETTE[-1]
    fg = (mask > 0)[:, :, None]
    out = np.where(fg, (1 - alpha) * img + alpha * colours, img)
    return np.clip(out, 0, 255).astype(np.uint8)
