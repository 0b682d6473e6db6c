"""Classification targets as the dataset and the scorers take them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from visionfit.data.labels import stack_targets


def split_targets(df: pd.DataFrame, label_mode: str) -> np.ndarray:
    """Training targets of a samples table (or slice): class indices, or (N, C) float vectors."""
    if label_mode in ("multilabel", "soft"):
        return stack_targets(df)
    return df["target"].to_numpy()


def default_threshold(label_mode: str) -> str:
    """`threshold: auto`: max-F1 per label for multi-label data, 0.5 otherwise."""
    return "f1" if label_mode == "multilabel" else "0.5"


def hard_targets(targets: np.ndarray, label_mode: str) -> np.ndarray:
    """Targets an estimator that takes hard labels fits (the scikit-learn baseline): the arg-max
    class of soft labels, 0/1 columns for multi-label, class indices otherwise."""
    if label_mode == "soft":
        return targets.argmax(axis=1)
    return targets.round().astype(int) if label_mode == "multilabel" else targets
