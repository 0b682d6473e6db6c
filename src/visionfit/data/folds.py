"""K-fold assignment, written to folds.csv before any training so every model shares it.

Kinds (scikit-learn and iterative-stratification do the splitting):
  stratified  StratifiedKFold on the class: each fold has the class ratios of the whole set
  kfold       KFold, shuffled: no stratification
  group       StratifiedGroupKFold (GroupKFold when stratification is impossible): a group
              (e.g. a patient) never spans two folds
  multilabel  MultilabelStratifiedKFold: the ratio of every label is kept per fold

folds.csv has one row per image: ``image`` (absolute path), ``label``, ``fold`` (0..K-1) and, for
group folds, ``group``. Passing it back (``--folds-file``) reuses the assignment exactly.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from visionfit.data.labels import stack_targets
from visionfit.errors import DataError
from visionfit.usercsv import read_user_csv

FOLD_KINDS = ("stratified", "kfold", "group", "multilabel")


def make_folds(df: pd.DataFrame, n_folds: int, kind: str, seed: int) -> pd.DataFrame:
    """Assign each row of a samples table to one of `n_folds` folds.

    >>> folds = make_folds(samples.df, 5, "stratified", seed=42)
    >>> folds.columns.tolist()  # ['image', 'label', 'fold']
    """
    if kind not in FOLD_KINDS:
        raise DataError(f"unknown --cv {kind!r}; choose from {', '.join(FOLD_KINDS)}")
    n = len(df)
    if n_folds < 2:
        raise DataError(f"--folds must be at least 2, got {n_folds}")
    if n_folds > n:
        raise DataError(f"--folds {n_folds} is more than the {n} images")
    x = np.zeros((n, 1))
    y = df["target"].to_numpy()
    if kind == "stratified":
        smallest = int(pd.Series(y).value_counts().min())
        if smallest < n_folds:
            rare = df.loc[df["target"] == pd.Series(y).value_counts().idxmin(), "label"].iloc[0]
            raise DataError(
                f"class {rare!r} has {smallest} images, fewer than --folds {n_folds}: "
                f"use --folds {max(2, smallest)} or fewer, or --cv kfold"
            )
        splits = StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(x, y)
    elif kind == "kfold":
        splits = KFold(n_folds, shuffle=True, random_state=seed).split(x)
    elif kind == "group":
        groups = df["group"].to_numpy()
        n_groups = len(set(groups))
        if n_groups < n_folds:
            raise DataError(f"only {n_groups} groups for --folds {n_folds}: use fewer folds")
        if (y >= 0).all():
            with warnings.catch_warnings():
                # "The least populated class has only N members" is fine with groups.
                warnings.simplefilter("ignore", UserWarning)
                cv = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)
                splits = list(cv.split(x, y, groups))
        else:
            splits = GroupKFold(n_folds).split(x, groups=groups)
    else:
        from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

        targets = stack_targets(df)
        cv = MultilabelStratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        splits = cv.split(x, targets)
    fold = np.full(n, -1, np.int64)
    for k, (_, val_idx) in enumerate(splits):
        fold[val_idx] = k
    if (fold < 0).any():  # the splitters guarantee a partition; keep the promise explicit
        raise RuntimeError("fold assignment left samples without a fold")
    out = pd.DataFrame({"image": df["image"].to_numpy(), "label": df["label"].to_numpy()})
    out["fold"] = fold
    if "group" in df.columns:
        out["group"] = df["group"].to_numpy()
    empty = sorted(set(range(n_folds)) - set(fold))
    if empty:
        raise DataError(f"folds {empty} are empty: use fewer --folds")
    return out


def read_folds_file(path: str | Path, df: pd.DataFrame) -> pd.DataFrame:
    """Read a folds.csv and align it with the samples table `df` (same images, one fold each)."""
    p = Path(path)
    raw = read_user_csv(
        p,
        required=["image", "fold"],
        what="folds file",
        hint="a folds.csv from a visionfit run has image, label, fold",
    ).df
    fold = pd.to_numeric(raw["fold"].str.strip(), errors="coerce")
    if fold.isna().any() or (fold < 0).any() or (fold != fold.round()).any():
        raise DataError(f"folds file {p}: the fold column must hold integers 0..K-1")
    raw["fold"] = fold.astype(np.int64)
    if raw["image"].duplicated().any():
        dup = raw.loc[raw["image"].duplicated(), "image"].iloc[0]
        raise DataError(f"folds file {p} lists {dup} twice")
    by_image = dict(zip(raw["image"], raw["fold"], strict=True))
    images = df["image"].tolist()
    missing = [i for i in images if i not in by_image]
    if missing and len(missing) == len(images):
        # Paths may be relative or from another machine: match on the file name then.
        by_name = dict(zip(raw["image"].map(lambda s: Path(s).name), raw["fold"], strict=True))
        if len(by_name) == len(raw):
            by_image = {i: by_name.get(Path(i).name) for i in images}
            missing = [i for i in images if by_image[i] is None]
    if missing:
        raise DataError(
            f"{len(missing)} of {len(images)} images have no fold in {p}, e.g. {missing[0]}: "
            "was it made for another dataset? Make new folds with --folds K"
        )
    extra = len(raw) - len(images)
    if extra > 0:
        raise DataError(
            f"folds file {p} lists {extra} images that are not in the dataset: "
            "was it made for another dataset? Make new folds with --folds K"
        )
    fold = np.array([by_image[i] for i in images], dtype=np.int64)
    n_folds = int(fold.max()) + 1
    empty = sorted(set(range(n_folds)) - set(fold))
    if empty or n_folds < 2:
        raise DataError(f"folds file {p} needs folds 0..K-1 with K >= 2, found {sorted(set(fold))}")
    out = pd.DataFrame({"image": images, "label": df["label"].to_numpy(), "fold": fold})
    if "group" in df.columns:
        out["group"] = df["group"].to_numpy()
    return out
