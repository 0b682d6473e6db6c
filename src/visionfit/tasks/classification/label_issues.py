"""Confident learning: likely label errors from out-of-fold predicted probabilities.

Implemented from the paper (not from any library): C. G. Northcutt, L. Jiang, I. L. Chuang,
"Confident Learning: Estimating Uncertainty in Dataset Labels", Journal of Artificial
Intelligence Research 70 (2021) 1373-1411, sections 2-3:

1. per-class thresholds: t_j = mean of p̂(y=j|x) over the examples labelled j (the average
   self-confidence of class j);
2. the confident joint C[i][j]: the number of examples labelled i whose predicted probability
   of j is at least t_j, counted under the j with the largest p̂_j among the classes above their
   threshold (an example above no threshold is not counted);
3. calibration: each row of C is rescaled to the number of examples given label i, then the
   whole matrix to sum to 1, giving Q[i][j], the estimated joint of (given label, true label);
4. prune by noise rate: for every off-diagonal cell, the n·Q[i][j] examples labelled i with the
   largest margin p̂_j - p̂_i are flagged (at least one example of each class is kept); an example
   whose arg-max prediction is its given label is not flagged;
5. the flagged examples are ranked by self-confidence p̂(y=given|x), lowest first.

Everything here is plain numpy on arrays: `labels` (N,) class indices, `probs` (N, K) rows of
predicted probabilities (out-of-fold: each predicted by a model that did not train on it).

>>> import numpy as np
>>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.1, 0.9]])
>>> find_label_issues(np.array([0, 0, 1, 1, 0]), probs).flagged.tolist()
[4]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from visionfit.errors import DataError


@dataclass
class LabelIssues:
    """What confident learning found (`find_label_issues`)."""

    thresholds: np.ndarray  # (K,) t_j
    confident_joint: np.ndarray  # (K, K) counts: given i (row), confidently j (column)
    joint: np.ndarray  # (K, K) calibrated Q[i][j], sums to 1
    flagged: np.ndarray  # indices of the examples flagged, lowest self-confidence first
    self_confidence: np.ndarray  # (N,) p̂(y = given label | x)
    suggested: np.ndarray  # (N,) the most likely class other than the given one


def check_inputs(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2 or len(labels) != len(probs):
        raise DataError(
            f"confident learning needs N labels and (N, K>=2) probabilities; got {labels.shape} "
            f"and {probs.shape}"
        )
    if not np.isfinite(probs).all():
        raise DataError("the predicted probabilities hold NaN or infinite values")
    labels = labels.astype(int)
    if len(labels) and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise DataError(f"labels must be class indices 0..{probs.shape[1] - 1}")
    return labels, probs


def per_class_thresholds(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """t_j: the mean p̂_j over the examples labelled j (a class nobody has: never reached, inf)."""
    k = probs.shape[1]
    out = np.full(k, np.inf)
    for j in range(k):
        rows = labels == j
        if rows.any():
            out[j] = probs[rows, j].mean()
    return out


def confident_joint(labels: np.ndarray, probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """C[i][j]: examples labelled i whose p̂_j >= t_j, under the largest such j."""
    k = probs.shape[1]
    above = probs >= thresholds[None, :]
    masked = np.where(above, probs, -np.inf)
    counted = above.any(axis=1)
    true = masked.argmax(axis=1)
    joint = np.zeros((k, k), dtype=np.int64)
    np.add.at(joint, (labels[counted], true[counted]), 1)
    return joint


def calibrate_joint(joint: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """Q: each row of the confident joint rescaled to its label's count, then all to sum 1. A row
    with no confident example keeps its count on the diagonal (no evidence of noise)."""
    joint = np.asarray(joint, dtype=np.float64)
    rows = joint.sum(axis=1, keepdims=True)
    eye = np.eye(len(joint))
    per_row = np.where(rows > 0, joint / np.where(rows > 0, rows, 1), eye)
    cal = per_row * np.asarray(label_counts, dtype=np.float64)[:, None]
    total = cal.sum()
    return cal / total if total > 0 else cal


def prune_by_noise_rate(labels: np.ndarray, probs: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """Boolean mask of the flagged examples: for each off-diagonal (i, j), the round(n·Q[i][j])
    examples labelled i with the largest margin p̂_j - p̂_i; a class keeps at least one example."""
    n, k = probs.shape
    counts = np.rint(n * joint).astype(int)
    np.fill_diagonal(counts, 0)
    flagged = np.zeros(n, dtype=bool)
    for i in range(k):
        rows = np.flatnonzero(labels == i)
        if not len(rows):
            continue
        budget = len(rows) - 1  # never prune a class away
        for j in np.argsort(-counts[i], kind="stable"):
            take = min(int(counts[i, j]), budget)
            if j == i or take <= 0:
                continue
            margin = probs[rows, j] - probs[rows, i]
            chosen = rows[np.argsort(-margin, kind="stable")[:take]]
            budget -= int((~flagged[chosen]).sum())
            flagged[chosen] = True
    return flagged


def find_label_issues(labels, probs) -> LabelIssues:
    """Confident learning on (N,) class indices and (N, K) out-of-fold probabilities."""
    labels, probs = check_inputs(labels, probs)
    n, k = probs.shape
    thresholds = per_class_thresholds(labels, probs)
    cj = confident_joint(labels, probs, thresholds)
    q = calibrate_joint(cj, np.bincount(labels, minlength=k))
    mask = prune_by_noise_rate(labels, probs, q)
    mask &= probs.argmax(axis=1) != labels  # the model agrees with the given label: kept
    self_conf = probs[np.arange(n), labels]
    others = probs.copy()
    others[np.arange(n), labels] = -np.inf
    suggested = others.argmax(axis=1)
    idx = np.flatnonzero(mask)
    flagged = idx[np.argsort(self_conf[idx], kind="stable")]
    return LabelIssues(thresholds, cj, q, flagged, self_conf, suggested)


def lowest_self_confidence(labels, probs, count: int) -> np.ndarray:
    """The plain ranking confident learning is compared with: the `count` examples of lowest
    self-confidence p̂(y=given|x)."""
    labels, probs = check_inputs(labels, probs)
    self_conf = probs[np.arange(len(labels)), labels]
    return np.argsort(self_conf, kind="stable")[: max(0, int(count))]
