"""Classification's headline score as a bootstrap `Scorer`: accuracy (multi-class, soft: the
arg-max class against the true / arg-max soft class, vectorised) or ROC AUC (binary; multi-label:
the mean over labels; the Mann-Whitney form with each resample's row multiplicities, vectorised),
over the probabilities a run wrote: val_predictions.csv (single run), oof.csv (CV),
test_predictions.csv (the test split)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.runs import files as run_files
from visionfit.tasks.base import split_file
from visionfit.tasks.classification.scoring import _auc, main_metric
from visionfit.tasks.classification.targets import split_targets
from visionfit.tasks.intervals import Scorer, aligned_rows, mean_scorer

FILES = {"val": run_files.VAL_PREDICTIONS, "oof": run_files.OOF}  # else <split>_predictions.csv


def classification_scorer(data, df: pd.DataFrame, run_dir: Path, of: str) -> Scorer | None:
    mode, classes = data.label_mode, data.classes
    found = aligned_rows(
        Path(run_dir) / FILES.get(of, split_file(of, "predictions.csv")),
        df,
        [f"prob_{c}" for c in classes],
    )
    if found is None or not len(found[0]):
        return None
    table, keep = found
    probs = table.to_numpy(np.float64)
    y = split_targets(df, mode)[keep]
    images = df["image"].astype(str).to_numpy()[keep]
    metric = main_metric(mode).removeprefix("val_")
    if mode == "binary":
        y = np.asarray(y).astype(int)
        p = probs[:, 1]
        return Scorer(metric, images, _auc(y, p), weighted=lambda w: weighted_auc(y, p, w))
    if mode == "multilabel":
        y = np.asarray(y).round().astype(int)
        return Scorer(
            metric, images, _mean_auc(y, probs), weighted=lambda w: _weighted_mean_auc(y, probs, w)
        )
    truth = np.asarray(y).argmax(axis=1) if mode == "soft" else np.asarray(y).astype(int)
    return mean_scorer(metric, images, (probs.argmax(axis=1) == truth).astype(np.float64))


def _mean_auc(y: np.ndarray, probs: np.ndarray) -> float:
    """The multi-label headline: the mean ROC AUC over the labels where it is defined."""
    aucs = [_auc(y[:, j], probs[:, j]) for j in range(probs.shape[1])]
    defined = [a for a in aucs if not math.isnan(a)]
    return float(np.mean(defined)) if defined else math.nan


def weighted_auc(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of scores `p` for 0/1 labels `y` in each row of `weights` (resamples x rows: each
    row's multiplicity), as scikit-learn's roc_auc_score with that sample_weight: the weighted
    share of (positive, negative) pairs ordered right, ties counted half (Mann-Whitney U). NaN
    where a resample holds one class."""
    order = np.argsort(p, kind="mergesort")
    ps, pos_mask = np.asarray(p)[order], np.asarray(y)[order].astype(bool)
    w = np.asarray(weights, np.float64)[:, order]
    neg, pos = np.where(pos_mask, 0.0, w), np.where(pos_mask, w, 0.0)
    cum = np.concatenate([np.zeros((len(w), 1)), np.cumsum(neg, axis=1)], axis=1)
    starts = np.r_[0, np.flatnonzero(np.diff(ps)) + 1]  # tie groups of equal scores
    ends = np.r_[starts[1:], len(ps)]
    group = np.repeat(np.arange(len(starts)), ends - starts)
    below, tied = cum[:, starts], cum[:, ends] - cum[:, starts]
    credit = below[:, group] + 0.5 * tied[:, group]
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (pos * credit).sum(axis=1) / den, np.nan)


def _weighted_mean_auc(y: np.ndarray, probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """`_mean_auc` for each resample: the mean over the labels defined in it."""
    aucs = np.stack([weighted_auc(y[:, j], probs[:, j], weights) for j in range(probs.shape[1])])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample with no defined label
        return np.nanmean(aucs, axis=0)
