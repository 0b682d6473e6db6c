"""tasks/classification/evaluation.py: labelled data put in a run's class order, the true labels
beside the predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from visionfit.errors import DataError
from visionfit.tasks.base import TaskData
from visionfit.tasks.classification.evaluation import align_classes, with_truth


def _data(df: pd.DataFrame, classes: list[str], mode: str) -> TaskData:
    return TaskData(df, classes, "folders", mode, pd.DataFrame())


def test_labels_take_the_run_class_indices():
    df = pd.DataFrame({"image": ["a", "b"], "label": ["dog", "ant"], "target": [1, 0]})
    out = align_classes(
        _data(df, ["ant", "dog"], "multiclass"), ["cat", "dog", "ant"], "multiclass"
    )
    assert list(out.df["target"]) == [1, 2] and out.classes == ["cat", "dog", "ant"]


def test_an_unknown_label_is_named():
    df = pd.DataFrame({"image": ["a"], "label": ["star"], "target": [0]})
    with pytest.raises(DataError, match="'star'.*the run knows 'circle'"):
        align_classes(_data(df, ["star"], "multiclass"), ["circle", "square"], "multiclass")


def test_label_vectors_are_reordered():
    df = pd.DataFrame({"image": ["a"], "label": ["y"], "targets": [np.array([0.0, 1.0])]})
    out = align_classes(_data(df, ["x", "y"], "multilabel"), ["y", "z", "x"], "multilabel")
    assert out.df["targets"][0].tolist() == [1.0, 0.0, 0.0]


def test_true_labels_after_the_image():
    table = pd.DataFrame(
        {"image": ["a", "b"], "pred": ["x", "y"], "prob_x": [0.9, 0.2], "prob_y": [0.1, 0.8]}
    )
    df = pd.DataFrame({"label": ["x", "x"]})
    assert list(with_truth(table, df, "binary", ["x", "y"]).columns[:3]) == [
        "image",
        "true",
        "pred",
    ]
    df = pd.DataFrame({"targets": [np.array([1.0, 0.0]), np.array([0.0, 1.0])]})
    out = with_truth(table, df, "multilabel", ["x", "y"])
    assert list(out["true_y"]) == [0.0, 1.0] and list(out.columns[:3]) == [
        "image",
        "true_x",
        "true_y",
    ]
