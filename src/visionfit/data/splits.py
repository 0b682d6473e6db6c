"""Validation splits. The assignment is always written to the run's splits.csv."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from visionfit.errors import DataError


def holdout_split(df: pd.DataFrame, val_fraction: float, seed: int) -> pd.DataFrame:
    """Return a copy of `df` with `split` set to train/val, stratified by `target` when possible.

    A split given by the data layout (train/ and val/ folders) is kept as it is.
    """
    out = df.copy()
    if (out["split"] != "").any():
        return out
    n = len(out)
    n_val = int(round(n * val_fraction))
    n_classes = out["target"].nunique()
    if n_val < 1 or n - n_val < 1:
        raise DataError(f"cannot hold out {val_fraction:.0%} of {n} images for validation")
    counts = out["target"].value_counts()
    stratify = out["target"] if counts.min() >= 2 and n_val >= n_classes else None
    if stratify is None:
        warnings.warn(
            "some class has fewer than 2 images (or the validation set is smaller than the number "
            "of classes): using a random, not stratified, split",
            stacklevel=2,
        )
    idx = np.arange(n)
    _, val_idx = train_test_split(idx, test_size=n_val, random_state=seed, stratify=stratify)
    out["split"] = "train"
    out.iloc[val_idx, out.columns.get_loc("split")] = "val"
    return out
