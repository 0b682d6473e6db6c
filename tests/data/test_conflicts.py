"""A CSV giving one file two labels: check reports it, train refuses it, unless the user says
which row wins (--conflicting-labels)."""

from __future__ import annotations

import pandas as pd
import pytest

from visionfit.config import DataConfig
from visionfit.data.check import check_dataset
from visionfit.data.sources import load_samples
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.errors import DataError


def _csv(tmp_path, extra_rows, columns=("image", "label")):
    root = make_shapes_dataset(tmp_path / "imgs", n_per_class=4, size=16, classes=("a", "b"))
    rows = [(f"{c}/{c}_{i:04d}.png", c) for c in ("a", "b") for i in range(4)]
    csv = tmp_path / "train.csv"
    pd.DataFrame(rows + extra_rows, columns=list(columns)).to_csv(csv, index=False)
    return csv, root


def test_two_labels_for_one_file_are_refused_naming_file_lines_and_the_option(tmp_path):
    csv, root = _csv(tmp_path, [("a/a_0000.png", "b")])
    with pytest.raises(DataError) as e:
        load_samples(DataConfig(csv=str(csv), root=str(root)))
    msg = str(e.value)
    assert "a_0000.png (line 2: a, line 10: b)" in msg and "--conflicting-labels" in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("policy", "label", "n"), [("first", "a", 8), ("last", "b", 8), ("drop", None, 7)]
)
def test_the_user_says_which_row_wins(tmp_path, policy, label, n):
    csv, root = _csv(tmp_path, [("a/a_0000.png", "b")])
    s = load_samples(DataConfig(csv=str(csv), root=str(root), conflicting_labels=policy))
    assert len(s.df) == n and "line" not in s.df.columns
    kept = s.df[s.df["image"].str.endswith("a_0000.png")]
    assert kept["label"].tolist() == ([label] if label else [])
    assert any("conflicting labels" in note and policy in note for note in s.notes)


def test_the_same_label_twice_is_one_sample_with_a_note(tmp_path):
    csv, root = _csv(tmp_path, [("a/a_0000.png", "a")])
    s = load_samples(DataConfig(csv=str(csv), root=str(root)))
    assert len(s.df) == 8 and any("counted once" in n for n in s.notes)


def test_multilabel_two_rows_for_one_file_conflict_even_when_equal(tmp_path):
    root = make_shapes_dataset(tmp_path / "imgs", n_per_class=3, size=16, classes=("a", "b"))
    rows = [(f"{c}/{c}_{i:04d}.png", f"{c} x") for c in ("a", "b") for i in range(3)]
    rows.append(("a/a_0000.png", "a x"))
    csv = tmp_path / "ml.csv"
    pd.DataFrame(rows, columns=["image", "label"]).to_csv(csv, index=False)
    cfg = DataConfig(csv=str(csv), root=str(root), label_delim=" ")
    with pytest.raises(DataError, match="conflicting labels"):
        load_samples(cfg)


def test_check_reports_conflicts_as_a_problem(tmp_path):
    csv, root = _csv(tmp_path, [("a/a_0000.png", "b")])
    report = check_dataset(DataConfig(csv=str(csv), root=str(root)), use_cache=False)
    assert not report.usable
    assert any("conflicting labels" in p and "a_0000.png" in p for p in report.problems)
    assert report.conflicting_labels[0]["labels"] == ["a", "b"]
    assert report.counts["conflicting_label_files"] == 1
