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
