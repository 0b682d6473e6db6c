"""What a cross-validated run (network or baseline) writes and prints about its folds.

- ``oof.csv``: one out-of-fold prediction per image: image, label, fold, pred, prob_<class>...
  (probabilities written at full float64 precision, so re-scoring the file reproduces the
  summary exactly)
- ``cv_summary.csv``: one row per fold, then ``mean`` and ``std`` over the folds (numpy's std,
  ddof=0, as ``cross_val_score(...).std()``), then ``oof``: the metric of all out-of-fold
  predictions pooled. Thresholded metrics (acc, f1, balanced_acc) use 0.5 / arg-max here.
- the tuned decision threshold (binary / multi-label) and the pooled scores at it, which are
  optimistic: the threshold was chosen on the same predictions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.fileio import atomic_write_csv
from visionfit.runs import files as run_files
from visionfit.runs.summary import cv_fields
from visionfit.tasks.classification.scoring import choose_threshold, main_metric, score
from visionfit.text import score_text


@dataclass
class CVScores:
    """Per-fold, mean, std and pooled out-of-fold scores of one cross-validated run."""

    task: str
    classes: list[str]
    per_fold: list[dict[str, float]]
    mean: dict[str, float]
    std: dict[str, float]
    oof: dict[str, float]
    threshold: float | list[float] | None
    threshold_method: str
    oof_at_threshold: dict[str, float] = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)  # ece, temperature... (calibration.py)

    @property
    def main_metric(self) -> str:
        return main_metric(self.task)

    def headline(self) -> str:
        m = self.main_metric
        return (
            f"{m}: {_fmt(self.mean.get(m))} ± {_fmt(self.std.get(m))} (mean ± std over "
            f"{len(self.per_fold)} folds); pooled out-of-fold {m}: {_fmt(self.oof.get(m))}"
        )

    def to_json(self) -> dict:
        return {
            **cv_fields(self),
            "threshold": self.threshold,
            "threshold_method": self.threshold_method,
            "oof_at_threshold": self.oof_at_threshold,
        }


def score_folds(
    task: str,
    classes: list[str],
    y: np.ndarray,
    probs: np.ndarray,
    fold: np.ndarray,
    threshold_method: str,
) -> CVScores:
    """Score every fold's out-of-fold predictions, their mean and std, and all of them pooled;
    choose the decision threshold on the pooled predictions."""
    fold = np.asarray(fold)
    per_fold = []
    for k in sorted(set(fold.tolist())):
        idx = fold == k
        scores = score(task, classes, y[idx], probs[idx])
        per_fold.append({"fold": int(k), "n": int(idx.sum()), **scores})
    names = [k for k in per_fold[0] if k not in ("fold", "n")]
    mean = {k: _nan_stat(np.nanmean, [f[k] for f in per_fold]) for k in names}
    std = {k: _nan_stat(np.nanstd, [f[k] for f in per_fold]) for k in names}
    pooled = score(task, classes, y, probs)
    threshold = choose_threshold(task, threshold_method, y, probs)
    at_thr = score(task, classes, y, probs, threshold) if threshold is not None else {}
    return CVScores(task, classes, per_fold, mean, std, pooled, threshold, threshold_method, at_thr)


def oof_frame(
    images, labels, fold, classes: list[str], task: str, probs: np.ndarray, threshold
) -> pd.DataFrame:
    """The oof.csv table; `pred` uses the tuned threshold (binary / multi-label) or arg-max."""
    probs = np.asarray(probs, np.float64)
    if task == "binary":
        t = 0.5 if threshold is None else float(threshold)
        pred = [classes[int(p >= t)] for p in probs[:, 1]]
    elif task == "multilabel":
        t = np.broadcast_to(np.asarray(0.5 if threshold is None else threshold), (len(classes),))
        on = probs >= t[None, :]
        pred = [" ".join(c for c, yes in zip(classes, row, strict=True) if yes) for row in on]
    else:
        pred = [classes[j] for j in probs.argmax(axis=1)]
    df = pd.DataFrame({"image": list(images), "label": list(labels), "fold": list(fold)})
    df["pred"] = pred
    for j, c in enumerate(classes):
        df[f"prob_{c}"] = probs[:, j]
    return df


def summary_frame(s: CVScores) -> pd.DataFrame:
    """cv_summary.csv: folds, then mean, std and the pooled out-of-fold row."""
    rows = [{**f, "fold": str(f["fold"])} for f in s.per_fold]
    n = sum(f["n"] for f in s.per_fold)
    rows.append({"fold": "mean", "n": n, **s.mean})
    rows.append({"fold": "std", "n": n, **s.std})
    rows.append({"fold": "oof", "n": n, **s.oof})
    return pd.DataFrame(rows)


def write_cv_outputs(run_dir: Path, oof: pd.DataFrame, s: CVScores) -> None:
    atomic_write_csv(run_dir / run_files.OOF, oof)
    atomic_write_csv(run_dir / run_files.CV_SUMMARY, summary_frame(s))


def _nan_stat(fn, values: list[float]) -> float:
    arr = np.asarray(values, np.float64)
    if np.isnan(arr).all():
        return math.nan
    return float(fn(arr))


def _fmt(v) -> str:
    return score_text(v)
