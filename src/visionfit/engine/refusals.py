"""Files the data scan accepted and a later decode refused, while a run trains: left out (never
replaced by another image), recorded in the run's skipped.csv with the decoder's reason, and
counted in the summary (`skipped_files`, the length of `TaskData.skipped`). The run goes on.

Two places refuse: the decode-once cache build (main process, before the loaders exist: the
files are left out of train and val at once) and the loaders' datasets (DataLoader workers are
separate processes: they append to a side file in the run directory, `DecodeRefusals`, merged
here after training; the final validation pass leaves those files out).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from visionfit.data.check import SKIPPED_COLUMNS
from visionfit.data.datasets import DecodeRefusals, skipped_rows
from visionfit.engine.dist import is_worker
from visionfit.runs import files as run_files
from visionfit.runs.rundir import atomic_write_csv
from visionfit.tasks.base import TaskData

REFUSED_LOG = "refused-while-training.jsonl"  # DecodeRefusals' side file, merged at the end


def leave_out_refused(
    data: TaskData, out_dir: Path, refused: dict[str, tuple[str, str]], *dfs: pd.DataFrame
) -> tuple[pd.DataFrame, ...]:
    """`dfs` without the images in `refused` ({image: (reason, detail)}: files the scan accepted
    and a later decode refused); they join `data.skipped` (the run summary's `skipped_files`)
    and the run's skipped.csv. Nothing is replaced by another image."""
    if not refused:
        return dfs
    gone = {os.path.abspath(p) for p in refused}
    known = set(data.skipped["image"]) if "image" in data.skipped else set()
    new = {p: r for p, r in refused.items() if p not in known}
    if new:
        df = data.df
        labels = dict(zip(df["image"], df["label"], strict=True)) if "label" in df else {}
        rows = skipped_rows(new, {k: str(v) for k, v in labels.items()}, data.sha1)
        columns = list(data.skipped.columns) or SKIPPED_COLUMNS
        added = pd.DataFrame(rows, columns=SKIPPED_COLUMNS).reindex(columns=columns, fill_value="")
        data.skipped = pd.concat([data.skipped, added], ignore_index=True).drop_duplicates("image")
        if not is_worker():
            atomic_write_csv(_skipped_csv(out_dir), data.skipped)
    return tuple(d[~d["image"].map(os.path.abspath).isin(gone)] for d in dfs)


def refusals_log(out_dir: Path) -> DecodeRefusals:
    """The side file the loaders of a training in `out_dir` record refusals in."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return DecodeRefusals(out_dir / REFUSED_LOG)


def cache_refusals(cache) -> dict[str, tuple[str, str]]:
    """{image: (reason, detail)} of what the decode-once cache build refused (none: {})."""
    if cache is None:
        return {}
    return {str(p): (e.reason, str(e.detail or "")) for p, e in cache.refused_items().items()}


def merge_refusals(
    data: TaskData, out_dir: Path, refusals: DecodeRefusals, val_df: pd.DataFrame
) -> tuple[pd.DataFrame, bool]:
    """Merge what the loaders refused into skipped.csv; returns `val_df` without those images
    and whether any image was refused."""
    later = refusals.read()
    (val_df,) = leave_out_refused(data, out_dir, later, val_df)
    if not is_worker():
        refusals.path.unlink(missing_ok=True)  # merged into skipped.csv
    return val_df, bool(later)


def _skipped_csv(out_dir: Path) -> Path:
    """The run's skipped.csv: in `out_dir` (a hold-out run), or its parent (a fold, the refit)."""
    for folder in (out_dir, out_dir.parent):
        if (folder / run_files.SKIPPED).is_file():
            return folder / run_files.SKIPPED
    return out_dir / run_files.SKIPPED
