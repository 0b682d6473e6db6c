"""Validation splits. The assignment is always written to the run's splits.csv.

Every task's samples table has a `target` column to stratify on (the class, or for segmentation
empty / non-empty mask); multi-label tables stratify on every label (`targets`), and a `group`
column (`--group-col`) keeps each group on one side of the split.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, train_test_split

from visionfit.errors import DataError


def holdout_split(
    df: pd.DataFrame, val_fraction: float, seed: int, stratify: str = "target"
) -> pd.DataFrame:
    """Return a copy of `df` with `split` set to train/val, stratified by `target` when possible
    (`stratify="multilabel"`: by every label), grouped when `df` has a `group` column.

    A split given by the data layout (train/ and val/ folders) is kept as it is.
    """
    out = df.copy()
    if (out["split"] != "").any():
        return out
    n = len(out)
    n_val = int(round(n * val_fraction))
    if n_val < 1 or n - n_val < 1:
        raise DataError(f"cannot hold out {val_fraction:.0%} of {n} images for validation")
    if "group" in out.columns:
        val_idx = _grouped(out, val_fraction, seed)
    elif stratify == "multilabel":
        from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

        from visionfit.data.labels import stack_targets

        cv = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=val_fraction, random_state=seed)
        _, val_idx = next(cv.split(np.zeros((n, 1)), stack_targets(out)))
    else:
        val_idx = _stratified(out, n_val, seed)
    out["split"] = "train"
    out.iloc[val_idx, out.columns.get_loc("split")] = "val"
    return out


def _stratified(df: pd.DataFrame, n_val: int, seed: int) -> np.ndarray:
    counts = df["target"].value_counts()
    stratify = df["target"] if counts.min() >= 2 and n_val >= len(counts) else None
    if stratify is None:
        warnings.warn(
            "some class has fewer than 2 images (or the validation set is smaller than the number "
            "of classes): using a random, not stratified, split",
            stacklevel=3,
        )
    _, val_idx = train_test_split(
        np.arange(len(df)), test_size=n_val, random_state=seed, stratify=stratify
    )
    return val_idx


def _grouped(df: pd.DataFrame, val_fraction: float, seed: int) -> np.ndarray:
    """One fold of a stratified group k-fold with k = 1 / val_fraction: no group on both sides."""
    groups = df["group"].to_numpy()
    n_groups = len(set(groups))
    k = max(2, int(round(1.0 / val_fraction)))
    if n_groups < k:
        raise DataError(
            f"only {n_groups} groups in --group-col: a grouped hold-out of {val_fraction:.0%} "
            f"needs at least {k}; use a larger --val-fraction"
        )
    x = np.zeros((len(df), 1))
    with warnings.catch_warnings():  # "the least populated class has only N members"
        warnings.simplefilter("ignore", UserWarning)
        try:
            cv = StratifiedGroupKFold(k, shuffle=True, random_state=seed)
            _, val_idx = next(cv.split(x, df["target"].to_numpy(), groups))
        except ValueError:
            _, val_idx = next(GroupKFold(k).split(x, groups=groups))
    return val_idx
