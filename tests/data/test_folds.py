"""Fold assignment: a partition of the samples, stratified, groups kept whole, reusable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from visionfit.data.folds import make_folds, read_folds_file
from visionfit.data.splits import holdout_split
from visionfit.errors import DataError
from visionfit.tasks.base import TaskData
from visionfit.tasks.registry import get_task


def resolve_fold_kind(kind: str, label_mode: str, has_groups: bool) -> str:
    """The fold kind classification picks for `kind` on data of `label_mode` (the task owns it)."""
    data = TaskData(pd.DataFrame(), [], "", label_mode, pd.DataFrame())
    return get_task("classification").fold_kind(kind, data, has_groups)


def _samples(counts: dict[str, int], groups_per_class: int | None = None) -> pd.DataFrame:
    rows = []
    for t, (label, n) in enumerate(counts.items()):
        for i in range(n):
            row = {"image": f"/d/{label}/{i}.png", "label": label, "target": t, "split": ""}
            if groups_per_class:
                row["group"] = f"{label}-g{i % groups_per_class}"
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("n_folds", [3, 5])
def test_stratified_folds_partition_and_keep_class_ratios(n_folds):
    df = _samples({"neg": 83, "pos": 21, "rare": 7})
    folds = make_folds(df, n_folds, "stratified", seed=0)
    assert list(folds["image"]) == list(df["image"])  # same rows, same order
    assert set(folds["fold"]) == set(range(n_folds))
    # every sample in exactly one fold: the validation parts partition the data
    assert folds["fold"].between(0, n_folds - 1).all() and len(folds) == len(df)
    for label, n in {"neg": 83, "pos": 21, "rare": 7}.items():
        per_fold = folds[folds["label"] == label]["fold"].value_counts()
        per_fold = per_fold.reindex(range(n_folds), fill_value=0)
        assert (abs(per_fold - n / n_folds) <= 1).all(), (label, per_fold.to_dict())


def test_group_folds_never_split_a_group():
    df = _samples({"neg": 120, "pos": 30}, groups_per_class=10)  # 12 / 3 images per group
    folds = make_folds(df, 4, "group", seed=1)
    assert (folds.groupby("group")["fold"].nunique() == 1).all()
    assert set(folds["fold"]) == set(range(4))
    # StratifiedGroupKFold still spreads the positives over the folds
    assert folds[folds["label"] == "pos"]["fold"].nunique() >= 3


def test_kfold_and_multilabel_folds_partition():
    df = _samples({"a": 30, "b": 30})
    k = make_folds(df, 3, "kfold", seed=0)
    assert sorted(k["fold"].value_counts().tolist()) == [20, 20, 20]
    rng = np.random.default_rng(0)
    y = (rng.random((90, 3)) < [0.5, 0.2, 0.1]).astype(np.float32)
    ml = pd.DataFrame(
        {
            "image": [f"/m/{i}.png" for i in range(90)],
            "label": [""] * 90,
            "target": -1,
            "split": "",
        }
    )
    ml["targets"] = list(y)
    folds = make_folds(ml, 3, "multilabel", seed=0)
    assert sorted(folds["fold"].value_counts().tolist()) == [30, 30, 30]
    for j in range(3):  # each label's positives are spread evenly (iterative stratification)
        per_fold = pd.Series(y[:, j]).groupby(folds["fold"]).sum()
        assert per_fold.max() - per_fold.min() <= 2, (j, per_fold.tolist())
    ml["split"] = ""
    hold = holdout_split(ml, 0.2, seed=0, stratify="targets")
    assert (hold["split"] == "val").sum() == 18


def test_fold_errors_say_what_to_do():
    df = _samples({"neg": 40, "pos": 3})
    with pytest.raises(DataError, match="class 'pos' has 3 images, fewer than --folds 5"):
        make_folds(df, 5, "stratified", seed=0)
    with pytest.raises(DataError, match="--cv group needs a group column"):
        resolve_fold_kind("group", "binary", has_groups=False)
    assert resolve_fold_kind("auto", "binary", has_groups=True) == "group"
    assert resolve_fold_kind("auto", "multilabel", has_groups=False) == "multilabel"
    assert resolve_fold_kind("auto", "multiclass", has_groups=False) == "stratified"
    assert resolve_fold_kind("auto", "multilabel", has_groups=True) == "group"
    with pytest.raises(DataError, match="--cv multilabel is for multi-label data"):
        resolve_fold_kind("multilabel", "binary", has_groups=False)
    with pytest.raises(DataError, match="--cv stratified needs one class per image"):
        resolve_fold_kind("stratified", "multilabel", has_groups=False)


def test_folds_file_round_trip_and_mismatch(tmp_path):
    df = _samples({"neg": 20, "pos": 10})
    folds = make_folds(df, 3, "stratified", seed=0)
    path = tmp_path / "folds.csv"
    folds.to_csv(path, index=False)
    again = read_folds_file(path, df.sample(frac=1.0, random_state=0))  # any row order
    assert dict(zip(again["image"], again["fold"], strict=True)) == dict(
        zip(folds["image"], folds["fold"], strict=True)
    )
    with pytest.raises(DataError, match="have no fold in"):
        read_folds_file(path, _samples({"neg": 20, "pos": 11}))
    with pytest.raises(DataError, match="lists 5 images that are not in the dataset"):
        read_folds_file(path, _samples({"neg": 15, "pos": 10}))
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"image": ["x"], "split": ["train"]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match="column 'fold' not in folds file"):
        read_folds_file(bad, df)
