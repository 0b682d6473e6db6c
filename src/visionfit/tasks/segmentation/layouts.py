"""Segmentation datasets into the engine's TaskData: the layouts (tasks/segmentation/sources.py),
the shared image scan (cached, as for classification), and the stratification key."""

from __future__ import annotations

import numpy as np
import pandas as pd

from visionfit.config import RunConfig
from visionfit.errors import DataError
from visionfit.progress import progress as show_progress
from visionfit.tasks.base import TaskData
from visionfit.tasks.segmentation.sources import SegSamples, load_seg_samples

SKIPPED_COLUMNS = ["image", "label", "reason", "detail"]


def load_segmentation_data(cfg: RunConfig, *, progress: bool) -> TaskData:
    """Read image/mask pairs, decode every image once (cached scan) and leave out unusable ones;
    `label`/`target` (empty / non_empty mask) are what splits and folds stratify on."""
    from visionfit.data.check import scan_files
    from visionfit.data.label_edits import apply_label_edits, edits_note, read_label_edits

    samples = _read_pairs(cfg, progress)
    decisions = list(samples.spec.decisions)
    if progress:  # what the mask values mean, said before training starts (as check says it)
        from rich.console import Console

        for line in decisions:
            Console(stderr=True, highlight=False).print(line, markup=False)
    df = samples.df.reset_index(drop=True).copy()
    edits = read_label_edits(cfg.data.exclude, cfg.data.relabel)
    notes = list(samples.notes)
    if edits:  # --relabel: refused (masks are not class names); --exclude: left out
        df, excluded = apply_label_edits(df.assign(label=""), [], edits)
        notes.append(edits_note(samples.df, edits, len(excluded)))
    scan = scan_files(list(df["image"]), max_pixels=cfg.data.max_pixels, progress=progress)
    bad = {f.image: f for f in scan.files if not f.ok}
    rows = [(p, "", r, "") for p, r in samples.skipped]
    rows += [(p, "", r, d) for p, r, d in samples.dropped]  # coco / yolo annotations
    if edits:
        rows += [tuple(r) for r in excluded.itertuples(index=False)]
    rows += [(img, "", bad[img].reason, bad[img].detail) for img in df["image"] if img in bad]
    df = df[~df["image"].isin(bad.keys())].reset_index(drop=True)
    if df.empty:
        raise DataError("no usable image/mask pairs: every image is unreadable (see skipped)")
    df["target"] = (~df["empty_mask"]).astype(int)
    df["label"] = np.where(df["empty_mask"], "empty", "non_empty")
    return TaskData(
        df=df,
        classes=samples.classes,
        layout=samples.layout,
        label_mode="segment",
        skipped=pd.DataFrame(rows, columns=SKIPPED_COLUMNS),
        notes=decisions + [n for n in notes if n not in decisions],
        sha1={f.image: f.sha1 for f in scan.files if f.ok},
        phash={f.image: f.phash for f in scan.files if f.ok},
        pixel_types={f.image: f.dtype for f in scan.files if f.ok},
        patient=scan.patients(),
        # augmentation borders of masks are filled with the ignore value (engine/loaders.py)
        extra={
            "spec": samples.spec,
            "rle": samples.rle,
            "mask_fill": samples.spec.class_ignore,
            "source": samples.source,
        },
        strata_optional=True,
    )


def _read_pairs(cfg: RunConfig, progress: bool) -> SegSamples:
    """The samples table; reading every mask once shows a progress bar."""
    if not progress:
        return load_seg_samples(cfg.data, cfg.segment)
    with show_progress("reading images and masks", None, "pairs") as bar:
        return load_seg_samples(cfg.data, cfg.segment, progress=bar.update)
