"""Hold-out splits: stratified by the target, whole groups on one side, a given split kept."""

from __future__ import annotations

import pandas as pd
import pytest

from visionfit.data.splits import holdout_split
from visionfit.errors import DataError


def _table(n_groups: int, per_group: int) -> pd.DataFrame:
    rows = [
        {
            "image": f"/d/{g}_{i}.png",
            "label": "ab"[g % 2],
            "target": g % 2,
            "split": "",
            "group": f"patient{g}",
        }
        for g in range(n_groups)
        for i in range(per_group)
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouped_holdout_keeps_every_group_on_one_side(seed):
    df = _table(20, 4)
    out = holdout_split(df, 0.2, seed)
    sides = out.groupby("group")["split"].nunique()
    assert (sides == 1).all()
    n_val = (out["split"] == "val").sum()
    assert 8 <= n_val <= 24  # about a fifth of 80, in whole groups of 4
    assert set(out.loc[out["split"] == "val", "label"]) == {"a", "b"}  # stratified too


def test_grouped_holdout_needs_enough_groups():
    with pytest.raises(DataError, match="only 3 groups in --group-col"):
        holdout_split(_table(3, 5), 0.2, 0)


def test_ungrouped_holdout_is_stratified_and_a_given_split_is_kept():
    df = _table(10, 10).drop(columns="group")
    out = holdout_split(df, 0.2, 0)
    assert (out["split"] == "val").sum() == 20
    assert out.loc[out["split"] == "val", "label"].value_counts().to_dict() == {"a": 10, "b": 10}
    given = df.assign(split=["train"] * 90 + ["val"] * 10)
    assert holdout_split(given, 0.5, 0)["split"].tolist() == given["split"].tolist()
