"""Multi-label and soft labels read from CSV columns or one delimited column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from visionfit.config import DataConfig
from visionfit.data.labels import stack_targets
from visionfit.data.sources import load_samples
from visionfit.errors import DataError
from visionfit.tasks.classification.labels import label_column_reader
from visionfit.tasks.classification.labels import resolve_label_mode as resolve_task


def _load(cfg: DataConfig):
    """The samples table as classification reads it (its label mode reads --label-cols)."""
    return load_samples(cfg, label_columns=label_column_reader(cfg.task))


@pytest.fixture
def csv_dir(tmp_path):
    from PIL import Image

    for i in range(4):
        Image.new("RGB", (8, 8)).save(tmp_path / f"{i}.png")
    return tmp_path


def _write(csv_dir, **cols) -> str:
    df = pd.DataFrame({"image": [f"{i}.png" for i in range(4)], **cols})
    path = csv_dir / "labels.csv"
    df.to_csv(path, index=False)
    return str(path)


def test_label_columns_give_multilabel_targets(csv_dir):
    csv = _write(csv_dir, cat=[1, 0, 1, 0], dog=[0, 0, 1, 1], group=["p1", "p1", "p2", "p3"])
    s = _load(DataConfig(csv=csv, label_cols=["cat", "dog"], group_col="group"))
    assert resolve_task(s, "auto") == "multilabel" and s.classes == ["cat", "dog"]
    assert s.df["label"].tolist() == ["cat", "", "cat dog", "dog"]
    np.testing.assert_array_equal(stack_targets(s.df), [[1, 0], [0, 0], [1, 1], [0, 1]])
    assert s.df["group"].tolist() == ["p1", "p1", "p2", "p3"]


def test_delimited_labels(csv_dir):
    csv = _write(csv_dir, tags=["sky sea", "", "sea", "tree sky"])
    s = _load(DataConfig(csv=csv, label_col="tags", label_delim=" "))
    assert s.label_kind == "multilabel" and s.classes == ["sea", "sky", "tree"]
    np.testing.assert_array_equal(stack_targets(s.df)[3], [0, 1, 1])


def test_soft_labels_and_one_hot_columns(csv_dir):
    soft = dict(a=[0.7, 0.2, 0.5, 0.0], b=[0.3, 0.8, 0.5, 1.0])
    s = _load(DataConfig(csv=_write(csv_dir, **soft), label_cols=["a", "b"], task="soft"))
    assert resolve_task(s, "soft") == "soft"
    assert s.df["target"].tolist() == [0, 1, 0, 1]  # arg-max (first on ties)
    np.testing.assert_allclose(stack_targets(s.df)[0], [0.7, 0.3])
    unnormalised = dict(a=[2, 1, 1, 0], b=[2, 3, 1, 1])
    s = _load(DataConfig(csv=_write(csv_dir, **unnormalised), label_cols=["a", "b"], task="soft"))
    np.testing.assert_allclose(stack_targets(s.df).sum(axis=1), 1.0, rtol=1e-6)
    assert any("divided by its sum" in n for n in s.notes)
    onehot = dict(x=[1, 0, 0, 1], y=[0, 1, 0, 0], z=[0, 0, 1, 0])
    s = _load(
        DataConfig(csv=_write(csv_dir, **onehot), label_cols=["x", "y", "z"], task="multiclass")
    )
    assert s.label_kind == "single" and s.df["label"].tolist() == ["x", "y", "z", "x"]
    assert "targets" not in s.df.columns


@pytest.mark.parametrize(
    "cols, cfg, message",
    [
        (dict(a=[0.5, 1, 0, 0]), dict(label_cols=["a", "b"]), "label column(s) 'b' not in"),
        (dict(a=[0.5, 1, 0, 0], b=[1, 0, 1, 1]), dict(label_cols=["a", "b"]), "--task soft"),
        (
            dict(a=[1, 1, 0, 0], b=[1, 0, 1, 1]),
            dict(label_cols=["a", "b"], task="multiclass"),
            "needs one-hot rows",
        ),
        (dict(label=["x", "y", "x", "y"]), dict(task="multilabel"), "--task multilabel needs"),
    ],
)
def test_label_errors(csv_dir, cols, cfg, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        s = _load(DataConfig(csv=_write(csv_dir, **cols), **cfg))
        resolve_task(s, cfg.get("task", "auto"))


def test_label_columns_need_a_csv(tmp_path):
    with pytest.raises(DataError, match="give the labels with --csv"):
        load_samples(DataConfig(path=str(tmp_path), label_cols=["a", "b"]))
