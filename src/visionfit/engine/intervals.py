"""The bootstrap intervals of a run's headline scores (tasks/intervals.py): the single run's
validation score, the CV run's pooled out-of-fold score, the test split's score. Each is
summary.json's `interval` / `test_interval`; `train.bootstrap` resamples (0: none)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from visionfit.tasks.base import Task, TaskData
from visionfit.tasks.intervals import scorer_interval


def run_interval(task: Task, cfg, data: TaskData, df, run_dir: Path, of: str) -> dict | None:
    """The interval around the headline score of `df`'s rows as step `of` ("val", "oof",
    "test") scored them in `run_dir`; None when off, nothing was scored or the task keeps no
    per-image scores. Whole groups are resampled when the rows have groups (`--group-col`)."""
    resamples = int(getattr(cfg.train, "bootstrap", 0) or 0)
    if resamples <= 0 or df is None or not len(df):
        return None
    scorer = task.interval_scorer(data, df, Path(run_dir), of)
    if scorer is None or not len(scorer.images):
        return None
    iv = scorer_interval(scorer, _groups(df, scorer.images), resamples, seed=cfg.train.seed)
    if iv is not None:
        iv["of"] = _OF[of]
    return iv


_OF = {"val": "validation split", "oof": "pooled out-of-fold predictions", "test": "test split"}


def interval_fields(task: Task, cfg, data: TaskData, scored, run_dir: Path, of: str, test_df):
    """summary.json's `interval` (the rows `scored` as `of`) and `test_interval` (`test_df`,
    scored in `run_dir`), each left out when there is none."""
    out = {
        "interval": run_interval(task, cfg, data, scored, run_dir, of),
        "test_interval": run_interval(task, cfg, data, test_df, run_dir, "test"),
    }
    return {k: v for k, v in out.items() if v is not None}


def _groups(df: pd.DataFrame, images) -> list[str] | None:
    if "group" not in df.columns:
        return None
    keys = df["group"]
    if keys.isna().all() or (keys.astype(str) == "").all():
        return None
    by_image = dict(zip(df["image"].astype(str), keys.astype(str), strict=True))
    return [by_image[i] for i in images]
