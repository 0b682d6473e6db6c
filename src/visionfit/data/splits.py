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
    df: pd.DataFrame,
    val_fraction: float,
    seed: int,
    stratify: str = "target",
    test_fraction: float = 0.0,
) -> pd.DataFrame:
    """Return a copy of `df` with `split` set to train/val (and test), stratified by `target`
    when possible (`stratify="targets"`: by every label of the `targets` column), grouped when
    `df` has a `group` column.

    A split given by the data layout (train/, val/, test/ folders, a CSV split column) is kept:
    a test split is drawn (`test_fraction` of all images) only when none is given, a validation
    split only when none is given, both from the rows not yet in another split.
    """
    out = split_test(df, test_fraction, seed, stratify)
    if (out["split"] == "val").any():
        out.loc[out["split"] == "", "split"] = "train"
        return out
    pool = np.flatnonzero(out["split"].isin(["", "train"]).to_numpy())
    n_val = int(round(len(out) * val_fraction))
    if n_val < 1 or len(pool) - n_val < 1:
        raise DataError(f"cannot hold out {val_fraction:.0%} of {len(out)} images for validation")
    val_idx = pool[_draw(out.iloc[pool], n_val, seed, stratify)]
    out.iloc[pool, out.columns.get_loc("split")] = "train"
    out.iloc[val_idx, out.columns.get_loc("split")] = "val"
    return out


def split_test(
    df: pd.DataFrame, test_fraction: float, seed: int, stratify: str = "target"
) -> pd.DataFrame:
    """A copy of `df` with `test_fraction` of its rows marked `split="test"` (stratified and
    grouped as the validation split), unless the data already gives test rows. The same rows
    in the same order and seed give the same test split, so every run on a dataset agrees."""
    out = df.copy()
    if test_fraction <= 0 or (out["split"] == "test").any():
        return out
    pool = np.flatnonzero(out["split"].isin(["", "train"]).to_numpy())
    n_test = int(round(len(out) * test_fraction))
    if n_test < 1 or len(pool) - n_test < 2:
        raise DataError(f"cannot hold out {test_fraction:.0%} of {len(out)} images for testing")
    # Another seed than the validation draw's, so the two are not the same rows of a stratum.
    test_idx = pool[_draw(out.iloc[pool], n_test, seed + 7919, stratify)]
    out.iloc[test_idx, out.columns.get_loc("split")] = "test"
    return out


def without_test(df: pd.DataFrame) -> pd.DataFrame:
    """The rows that training, model selection and tuning may see."""
    return df[df["split"] != "test"]


def _draw(df: pd.DataFrame, n: int, seed: int, stratify: str) -> np.ndarray:
    """Positions of `n` rows of `df` drawn stratified (or grouped, or multi-label stratified)."""
    if "group" in df.columns:
        return _grouped(df, n / len(df), seed)
    if stratify == "targets":  # every label of the `targets` vectors
        from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

        from visionfit.data.labels import stack_targets

        cv = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=n, random_state=seed)
        _, idx = next(cv.split(np.zeros((len(df), 1)), stack_targets(df)))
        return idx
    return _stratified(df, n, seed)


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
