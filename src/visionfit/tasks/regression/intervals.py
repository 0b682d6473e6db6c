"""Regression's headline (R²) as a bootstrap `Scorer`, vectorised: each resample's R² from
weighted sums of the targets and residuals in val_predictions.csv, oof.csv or
test_predictions.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.runs import files as run_files
from visionfit.tasks.base import split_file
from visionfit.tasks.intervals import Scorer, aligned_rows

FILES = {"val": run_files.VAL_PREDICTIONS, "oof": run_files.OOF}  # else <split>_predictions.csv


def regression_scorer(data, df: pd.DataFrame, run_dir: Path, of: str) -> Scorer | None:
    found = aligned_rows(
        Path(run_dir) / FILES.get(of, split_file(of, "predictions.csv")),
        df,
        ["target", "prediction"],
    )
    if found is None or not len(found[0]):
        return None
    table, keep = found
    y = table["target"].to_numpy(np.float64)
    res = table["prediction"].to_numpy(np.float64) - y
    images = df["image"].astype(str).to_numpy()[keep]
    full = weighted_r2(np.ones((1, len(y))), y, res)[0]
    return Scorer("r2", images, float(full), weighted=lambda w: weighted_r2(w, y, res))


def weighted_r2(w: np.ndarray, y: np.ndarray, res: np.ndarray) -> np.ndarray:
    """R² of each row of weights (row multiplicities): 1 - SS_res / SS_tot; NaN where the
    targets of a resample do not vary."""
    total = w.sum(axis=1)
    mean = w @ y / total
    ss_tot = w @ (y * y) - total * mean * mean
    ss_res = w @ (res * res)
    tiny = ss_tot <= 1e-12 * np.maximum(w @ (y * y), 1e-300)
    return np.where(tiny, np.nan, 1 - ss_res / np.where(tiny, 1, ss_tot))
