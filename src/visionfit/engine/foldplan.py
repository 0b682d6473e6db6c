"""The fold assignment of a cross-validation (folds.csv), shared by the networks' fold loop
(engine/cv.py), tuning and the scikit-learn baseline, so that they all score the same folds."""

from __future__ import annotations

import pandas as pd

from visionfit.config import RunConfig
from visionfit.data.folds import make_folds, read_folds_file
from visionfit.errors import DataError
from visionfit.tasks.base import TaskData
from visionfit.tasks.registry import task_for_config


def assign_folds(data: TaskData, cfg: RunConfig) -> tuple[pd.DataFrame, str]:
    """folds.csv's table (image, label, fold[, group]) and the fold kind it was made with."""
    df = data.df
    if cfg.cv.folds_file:
        folds = read_folds_file(cfg.cv.folds_file, df)
        n = int(folds["fold"].max()) + 1
        if cfg.cv.folds > 1 and cfg.cv.folds != n:
            raise DataError(
                f"--folds {cfg.cv.folds} but {cfg.cv.folds_file} has {n} folds: "
                "drop --folds to use the file's"
            )
        return folds, "file"
    kind = task_for_config(cfg).fold_kind(cfg.cv.kind, data, "group" in df.columns)
    if kind == "stratified" and cfg.cv.kind == "auto" and data.strata_optional:
        # Too few of a stratum (e.g. empty masks) to stratify on: plain shuffled folds.
        counts = df["target"].value_counts()
        if len(counts) < 2 or counts.min() < cfg.cv.folds:
            kind = "kfold"
    return make_folds(df, cfg.cv.folds, kind, cfg.train.seed), kind
