"""The bootstrap intervals of a run's headline scores (tasks/intervals.py): the single run's
validation score, the CV run's pooled out-of-fold score, the test split's score. Each is
summary.json's `interval` / `test_interval`; `train.bootstrap` resamples (0: none)."""

from __future__ import annotations

from pathlib import Path

from visionfit.tasks.base import Task, TaskData
from visionfit.tasks.intervals import headline_interval


def run_interval(task: Task, cfg, data: TaskData, df, run_dir: Path, of: str) -> dict | None:
    """`headline_interval` with the run's `train.bootstrap` resamples and seed."""
    resamples = int(getattr(cfg.train, "bootstrap", 0) or 0)
    return headline_interval(task, data, df, run_dir, of, resamples=resamples, seed=cfg.train.seed)


def interval_fields(task: Task, cfg, data: TaskData, scored, run_dir: Path, of: str, test_df):
    """summary.json's `interval` (the rows `scored` as `of`) and `test_interval` (`test_df`,
    scored in `run_dir`), each left out when there is none."""
    out = {
        "interval": run_interval(task, cfg, data, scored, run_dir, of),
        "test_interval": run_interval(task, cfg, data, test_df, run_dir, "test"),
    }
    return {k: v for k, v in out.items() if v is not None}
