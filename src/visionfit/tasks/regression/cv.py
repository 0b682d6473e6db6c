"""Regression's part of cross-validation: out-of-fold values, CV scores, oof.csv.

- ``oof.csv``: image, target, prediction, fold (the fold model that had not seen the image);
- ``cv_summary.csv``: one row per fold, then mean and std over the folds (ddof=0) and ``oof``,
  the pooled out-of-fold scores; R², MAE and RMSE on the target's own scale.

The report draws predicted-vs-true and the residuals from oof.csv (tasks/regression/report.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.runs.rundir import atomic_write_csv
from visionfit.runs.summary import cv_fields
from visionfit.tasks.regression.metrics import METRICS, score
from visionfit.text import score_text

MAIN_METRIC = "val_r2"


@dataclass
class RegressionCVScores:
    """Per-fold, mean, std and pooled out-of-fold scores (keys val_r2, val_mae, val_rmse)."""

    per_fold: list[dict[str, float]]
    mean: dict[str, float]
    std: dict[str, float]
    oof: dict[str, float]
    threshold: None = None  # no decision threshold (cli/render.py's threshold_line asks)
    classes: list[str] = field(default_factory=list)

    main_metric = MAIN_METRIC

    def headline(self) -> str:
        parts = [
            f"{m}: {_fmt(self.mean.get('val_' + m))} ± {_fmt(self.std.get('val_' + m))}"
            for m in METRICS
        ]
        return (
            f"{', '.join(parts)} (mean ± std over {len(self.per_fold)} folds); pooled "
            f"out-of-fold r2: {_fmt(self.oof.get(MAIN_METRIC))}"
        )

    def to_json(self) -> dict:
        return cv_fields(self)


def score_folds(y: np.ndarray, pred: np.ndarray, fold: np.ndarray) -> RegressionCVScores:
    fold = np.asarray(fold)
    per_fold = []
    for k in sorted(set(fold.tolist())):
        idx = fold == k
        s = {f"val_{m}": v for m, v in score(y[idx], pred[idx]).items()}
        per_fold.append({"fold": int(k), "n": int(idx.sum()), **s})
    names = [f"val_{m}" for m in METRICS]
    mean = {k: _stat(np.nanmean, [f[k] for f in per_fold]) for k in names}
    std = {k: _stat(np.nanstd, [f[k] for f in per_fold]) for k in names}
    oof = {f"val_{m}": v for m, v in score(y, pred).items()}
    return RegressionCVScores(per_fold, mean, std, oof)


def summary_frame(s: RegressionCVScores) -> pd.DataFrame:
    rows = [{**f, "fold": str(f["fold"])} for f in s.per_fold]
    n = sum(f["n"] for f in s.per_fold)
    rows += [
        {"fold": "mean", "n": n, **s.mean},
        {"fold": "std", "n": n, **s.std},
        {"fold": "oof", "n": n, **s.oof},
    ]
    return pd.DataFrame(rows)


def write_cv_outputs(run_dir: Path, images, y, pred, fold, s: RegressionCVScores) -> None:
    oof = pd.DataFrame(
        {"image": list(images), "target": y, "prediction": pred, "fold": np.asarray(fold)}
    )
    atomic_write_csv(Path(run_dir) / "oof.csv", oof)
    atomic_write_csv(Path(run_dir) / "cv_summary.csv", summary_frame(s))


class RegressionCV:
    """Collects each fold's out-of-fold values, then scores them (engine/cv.py)."""

    def __init__(self, cfg, data, df: pd.DataFrame):
        self.cfg, self.data, self.df = cfg, data, df
        self.pred = np.full(len(df), np.nan)

    def add(self, k: int, split, val_idx: np.ndarray, fold_dir) -> str:
        self.pred[val_idx] = np.asarray(split.val_probs, np.float64).reshape(-1)
        s = score(self.df["value"].to_numpy()[val_idx], self.pred[val_idx])
        return f"r2 {s['r2']:.4f}, mae {s['mae']:.4g}, rmse {s['rmse']:.4g}"

    def finish(self, run_dir, fold: np.ndarray):
        """Scores, the ensemble's model.json extras, summary.json fields."""
        y = self.df["value"].to_numpy(np.float64)
        scores = score_folds(y, self.pred, fold)
        scores.classes = list(self.data.classes)
        write_cv_outputs(run_dir, self.df["image"], y, self.pred, fold, scores)
        ensemble = {"target_scaling": "per fold model (its own model.json and weights)"}
        return scores, ensemble, {"model": self.cfg.model.name, **scores.to_json()}


def _stat(fn, values) -> float:
    arr = np.asarray(values, np.float64)
    return math.nan if np.isnan(arr).all() else float(fn(arr))


def _fmt(v) -> str:
    return score_text(v)
