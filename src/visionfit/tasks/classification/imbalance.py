"""Class imbalance: loss weights from class frequencies, and a class-balanced sampler.

`--class-weights auto`: cross-entropy gets scikit-learn's "balanced" class weights
(n_samples / (n_classes * n_c)); binary and multi-label BCE get pos_weight = n_negative /
n_positive per label. `--sampler balanced`: a weighted, per-epoch seeded sampler that draws
every class equally often (with replacement; one epoch is still len(train) draws).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight

from visionfit.errors import DataError


def class_indices(task: str, targets: np.ndarray) -> np.ndarray:
    """One class index per sample: the class, or the arg-max of soft labels."""
    targets = np.asarray(targets)
    return targets.argmax(axis=1) if targets.ndim == 2 else targets.astype(np.int64)


def loss_weight(task: str, targets: np.ndarray, num_classes: int, mode: str) -> torch.Tensor | None:
    """The loss weight tensor for `mode` ("none" or "auto") from the training targets."""
    if mode == "none":
        return None
    targets = np.asarray(targets)
    if task in ("binary", "multilabel"):
        y = targets.reshape(len(targets), -1).astype(np.float64)
        pos = y.sum(axis=0)
        neg = len(y) - pos
        # A label with no positives in this training set gets weight 1 (nothing to rebalance).
        w = np.where(pos > 0, neg / np.maximum(pos, 1), 1.0)
        return torch.tensor(w, dtype=torch.float32)
    y = class_indices(task, targets)
    present = np.unique(y)
    w = np.ones(num_classes)
    w[present] = compute_class_weight("balanced", classes=present, y=y)
    return torch.tensor(w, dtype=torch.float32)


def balanced_sampler(task: str, targets: np.ndarray, seed: int):
    """Draw each class with equal probability; samples of a class equally often.

    An `EpochSampler` with weights: the draws are seeded per epoch, so a resumed run draws the
    same samples; it yields ``(epoch, index)`` keys."""
    from visionfit.data.samplers import EpochSampler

    if task == "multilabel":
        raise DataError(
            "--sampler balanced needs one class per image; for multi-label data use "
            "--class-weights auto (pos_weight per label) instead"
        )
    y = class_indices(task, targets)
    counts = np.bincount(y)
    return EpochSampler(len(y), seed, weights=1.0 / counts[y])
