"""Classification's headline score as a bootstrap `Scorer`: accuracy (multi-class, soft: the
arg-max class against the true / arg-max soft class, vectorised) or ROC AUC (binary; multi-label:
the mean over labels; scikit-learn per resample, so 500 resamples at most, fewer for many labels),
over the probabilities a run wrote: val_predictions.csv (single run), oof.csv (CV),
test_predictions.csv (the test split)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.runs import files as run_files
from visionfit.tasks.base import split_file
from visionfit.tasks.classification.scoring import _auc, main_metric
from visionfit.tasks.classification.targets import split_targets
from visionfit.tasks.intervals import Scorer, aligned_rows, mean_scorer

FILES = {"val": run_files.VAL_PREDICTIONS, "oof": run_files.OOF}  # else <split>_predictions.csv
# scikit-learn's roc_auc_score costs about 1-7 ms a call (input checks): a binary run's interval
# takes at most this many resamples, a multi-label run's fewer
_AUC_RESAMPLES = 500
# ROC AUC of each label on each resample: multi-label runs with many labels take fewer resamples
_LABEL_AUCS_PER_RUN = 2000


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
        return Scorer(
            metric,
            images,
            _auc(y, p),
            score=lambda idx: _auc(y[idx], p[idx]),
            resamples_cap=_AUC_RESAMPLES,
            cap_reason="scikit-learn's ROC AUC per resample (milliseconds each)",
        )
    if mode == "multilabel":
        y = np.asarray(y).round().astype(int)
        k = probs.shape[1]
        cap = max(100, min(_AUC_RESAMPLES, _LABEL_AUCS_PER_RUN // k))
        return Scorer(
            metric,
            images,
            _mean_auc(y, probs),
            score=lambda idx: _mean_auc(y[idx], probs[idx]),
            resamples_cap=cap,
            cap_reason=f"a ROC AUC for each of {k} labels per resample",
        )
    truth = np.asarray(y).argmax(axis=1) if mode == "soft" else np.asarray(y).astype(int)
    return mean_scorer(metric, images, (probs.argmax(axis=1) == truth).astype(np.float64))


def _mean_auc(y: np.ndarray, probs: np.ndarray) -> float:
    """The multi-label headline: the mean ROC AUC over the labels where it is defined."""
    aucs = [_auc(y[:, j], probs[:, j]) for j in range(probs.shape[1])]
    defined = [a for a in aucs if not math.isnan(a)]
    return float(np.mean(defined)) if defined else math.nan
