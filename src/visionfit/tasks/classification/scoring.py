"""Scores of predicted probabilities with scikit-learn (out-of-fold, CV folds, the baseline),
named like the training metrics (val_loss, val_acc, val_balanced_acc, val_auroc, val_f1,
val_macro_f1), and decision thresholds chosen on validation / out-of-fold predictions.

Targets `y` are class indices (N,) for binary and multi-class, 0/1 (N, C) for multi-label and
class probabilities (N, C) for soft labels; `probs` is always (N, C).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from visionfit.errors import VisionfitError

THRESHOLD_METHODS = ("youden", "f1")


def main_metric(task: str) -> str:
    """The headline metric of a run: ROC AUC where it is defined by one number, else accuracy."""
    return "val_auroc" if task in ("binary", "multilabel") else "val_acc"


def higher_is_better(metric: str) -> bool:
    return not metric.endswith("loss")


def score(
    task: str,
    classes: list[str],
    y: np.ndarray,
    probs: np.ndarray,
    threshold: float | list[float] | None = None,
) -> dict[str, float]:
    """All metrics of one set of predictions; a metric undefined on it (AUC with one class) is NaN.

    >>> y, p = np.array([0, 1, 1]), np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    >>> score("binary", ["neg", "pos"], y, p)["val_auroc"]  # 0.5
    """
    probs = np.asarray(probs, np.float64)
    eps = 1e-7
    out: dict[str, float] = {}
    if task == "binary":
        y = np.asarray(y).astype(int)
        p = probs[:, 1]
        t = 0.5 if threshold is None else float(threshold)
        pred = (p >= t).astype(int)
        out["val_loss"] = log_loss(y, np.clip(p, eps, 1 - eps), labels=[0, 1])
        out["val_acc"] = accuracy_score(y, pred)
        out["val_balanced_acc"] = _balanced(y, pred)
        out["val_auroc"] = _auc(y, p)
        out["val_f1"] = f1_score(y, pred, zero_division=0)
        return out
    if task == "multilabel":
        y = np.asarray(y).round().astype(int)
        t = _per_label(threshold, probs.shape[1])
        pred = (probs >= t[None, :]).astype(int)
        losses = [
            log_loss(y[:, j], np.clip(probs[:, j], eps, 1 - eps), labels=[0, 1])
            for j in range(probs.shape[1])
        ]
        out["val_loss"] = float(np.mean(losses))
        # label-wise accuracy, as torchmetrics' MultilabelAccuracy
        out["val_acc"] = float((pred == y).mean())
        out["val_macro_f1"] = f1_score(y, pred, average="macro", zero_division=0)
        per_label = {c: _auc(y[:, j], probs[:, j]) for j, c in enumerate(classes)}
        defined = [v for v in per_label.values() if not math.isnan(v)]
        out["val_auroc"] = float(np.mean(defined)) if defined else math.nan
        for c, v in per_label.items():
            out[f"val_auroc_{c}"] = v
        return out
    # multiclass and soft: scored against the (arg-max) class
    n = len(classes)
    if task == "soft":
        soft = np.asarray(y, np.float64)
        y = soft.argmax(axis=1)
        out["val_loss"] = float(-(soft * np.log(np.clip(probs, eps, 1))).sum(axis=1).mean())
    else:
        y = np.asarray(y).astype(int)
        p = np.clip(probs, eps, 1)
        out["val_loss"] = log_loss(y, p / p.sum(axis=1, keepdims=True), labels=list(range(n)))
    pred = probs.argmax(axis=1)
    out["val_acc"] = accuracy_score(y, pred)
    out["val_balanced_acc"] = _balanced(y, pred)
    out["val_macro_f1"] = f1_score(y, pred, average="macro", labels=list(range(n)), zero_division=0)
    out["val_auroc"] = _auc_ovr(y, probs, n)
    return {k: float(v) for k, v in out.items()}


def choose_threshold(
    task: str, method: str, y: np.ndarray, probs: np.ndarray
) -> float | list[float] | None:
    """The decision threshold(s) for `method` ("0.5", a number, "youden" or "f1"): one for
    binary (on the positive class's probability), one per label for multi-label, None otherwise."""
    if task not in ("binary", "multilabel"):
        return None
    fixed = _as_number(method)
    n = np.asarray(probs).shape[1]
    if fixed is not None:
        return fixed if task == "binary" else [fixed] * n
    if task == "binary":
        return _tune(np.asarray(y).astype(int), np.asarray(probs)[:, 1], method)
    y = np.asarray(y).round().astype(int)
    return [_tune(y[:, j], np.asarray(probs)[:, j], method) for j in range(probs.shape[1])]


def check_threshold_option(method: str) -> str:
    if method in ("auto", *THRESHOLD_METHODS):
        return method
    value = _as_number(method)
    if value is None or not 0.0 <= value <= 1.0:
        raise VisionfitError(
            f"--threshold {method!r}: use a number in 0..1, youden (max TPR - FPR) or f1 (max F1)"
        )
    return method


def _as_number(method: str) -> float | None:
    try:
        return float(method)
    except (TypeError, ValueError):
        return None


def _tune(y: np.ndarray, p: np.ndarray, method: str) -> float:
    """Youden's J (max TPR - FPR on the ROC curve) or the max-F1 point of the PR curve;
    0.5 when the predictions hold a single class (nothing to tune on)."""
    if method not in THRESHOLD_METHODS:
        raise VisionfitError(f"unknown threshold method {method!r}; choose from youden, f1, 0..1")
    if len(np.unique(y)) < 2:
        return 0.5
    if method == "youden":
        fpr, tpr, thr = roc_curve(y, p)
        best = int(np.argmax(tpr - fpr))
        return float(min(1.0, thr[best]))  # roc_curve's first threshold is inf
    precision, recall, thr = precision_recall_curve(y, p)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thr[int(np.argmax(f1))])


def _per_label(threshold, n: int) -> np.ndarray:
    if threshold is None:
        return np.full(n, 0.5)
    if isinstance(threshold, (int, float)):
        return np.full(n, float(threshold))
    return np.asarray(threshold, np.float64)


def _balanced(y: np.ndarray, pred: np.ndarray) -> float:
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true" on tiny folds
        warnings.simplefilter("ignore")
        return float(balanced_accuracy_score(y, pred))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    if len(np.unique(y)) < 2:
        return math.nan
    return float(roc_auc_score(y, p))


def _auc_ovr(y: np.ndarray, probs: np.ndarray, n: int) -> float:
    """Macro one-vs-rest ROC AUC (as roc_auc_score(multi_class="ovr")) over the classes present,
    without renormalising the probabilities (which could reorder near-ties)."""
    present = np.unique(y)
    if len(present) < 2:
        return math.nan
    return float(np.mean([_auc((y == c).astype(int), probs[:, c]) for c in present]))
