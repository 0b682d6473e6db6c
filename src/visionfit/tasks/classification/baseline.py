"""Classification's part of the scikit-learn baseline (the runner is engine/baseline.py).

The estimator (a random forest, a Platt-calibrated SVM, logistic regression or k-NN; one per
label for multi-label data), the hard targets it fits, its class probabilities in the run's class
order, the decision threshold and the scores of the out-of-fold probabilities, written as a
network's CV run writes them (oof.csv, cv_summary.csv).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from visionfit.errors import DataError
from visionfit.tasks.base import BaselineFit, TaskData
from visionfit.tasks.classification.cvreport import oof_frame, score_folds, write_cv_outputs
from visionfit.tasks.classification.scoring import check_threshold_option
from visionfit.tasks.classification.targets import default_threshold, hard_targets, split_targets

BASELINE_MODELS = ("rf", "svm", "logreg", "knn")


class ClassificationBaseline:
    """The `Task.baseline()` of classification: see tasks/base.py `Baseline`."""

    models = BASELINE_MODELS

    def resolve(self, cfg, data: TaskData):
        """The threshold option checked, and its "auto" filled (config.yaml states what ran)."""
        threshold = check_threshold_option(cfg.threshold)
        if threshold == "auto":
            threshold = default_threshold(data.label_mode)
        cfg.threshold = threshold
        return cfg

    def targets(self, data: TaskData, df: pd.DataFrame) -> BaselineFit:
        targets = split_targets(df, data.label_mode)
        return BaselineFit(targets, hard_targets(targets, data.label_mode), len(data.classes))

    def estimator(self, cfg, data: TaskData, y_train: np.ndarray, n_samples: int):
        """The classifier named by `cfg.model` (the last step of the baseline's pipeline)."""
        weights = "balanced" if cfg.class_weights == "auto" else None
        if cfg.model == "rf":
            clf = RandomForestClassifier(
                n_estimators=300, n_jobs=1, random_state=cfg.seed, class_weight=weights
            )
        elif cfg.model == "svm":  # Platt-scaled probabilities from an internal cross-validation
            clf = CalibratedClassifierCV(
                SVC(random_state=cfg.seed, class_weight=weights),
                method="sigmoid",
                cv=_calibration_folds(y_train),
                ensemble=False,
            )
        elif cfg.model == "logreg":
            clf = LogisticRegression(max_iter=2000, C=0.1, class_weight=weights)
        elif cfg.model == "knn":
            k = min(10, max(1, n_samples // 10))
            clf = KNeighborsClassifier(n_neighbors=k, weights="distance")
        else:
            raise DataError(
                f"unknown baseline --model {cfg.model!r}; choose from {', '.join(BASELINE_MODELS)}"
            )
        if data.label_mode == "multilabel":
            clf = MultiOutputClassifier(clf)
        return clf

    def proba(self, pipeline, x: np.ndarray, meta: dict) -> np.ndarray:
        """(N, n_classes) probabilities from a fitted pipeline, in the run's class order."""
        return pipeline_proba(pipeline, x, meta["task"], len(meta["classes"]))

    def score(self, run_dir: Path, cfg, data: TaskData, df, fit: BaselineFit, oof, fold):
        """The out-of-fold probabilities scored per fold and pooled; oof.csv, cv_summary.csv."""
        mode = data.label_mode
        scores = score_folds(mode, data.classes, fit.targets, oof, fold, cfg.threshold)
        table = oof_frame(df["image"], df["label"], fold, data.classes, mode, oof, scores.threshold)
        write_cv_outputs(run_dir, table, scores)
        return scores

    def meta(self, cfg, scores) -> dict:
        """What model.json adds for prediction: the threshold chosen on the OOF predictions."""
        return {
            # arg-max tasks keep the key (as network runs do); predict ignores it for them
            "threshold": 0.5 if scores.threshold is None else scores.threshold,
            "threshold_method": cfg.threshold,
        }


def pipeline_proba(pipeline, x: np.ndarray, task: str, n_classes: int) -> np.ndarray:
    """(N, n_classes) probabilities from a fitted pipeline, in the run's class order."""
    raw = pipeline.predict_proba(x)
    clf = pipeline[-1]
    probs = np.zeros((len(x), n_classes))
    if task == "multilabel":
        for j, (est, p) in enumerate(zip(clf.estimators_, raw, strict=True)):
            cls = list(est.classes_)
            probs[:, j] = p[:, cls.index(1)] if 1 in cls else 0.0
        return probs
    # A class missing from this fold's training part has no column: give it probability 0.
    probs[:, clf.classes_.astype(int)] = raw
    return probs


def _calibration_folds(y: np.ndarray) -> int:
    """SVM calibration folds: 5, fewer when the rarest class (or label value) has fewer images."""
    y = y.reshape(len(y), -1)
    smallest = min(int(np.bincount(y[:, j]).min()) for j in range(y.shape[1]))
    return max(2, min(5, smallest))
