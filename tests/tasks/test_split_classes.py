"""A class the split leaves without training or validation images is named, not a raw warning;
undefined scores are "n/a" (null in JSON), never 0."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from visionfit.config import TrainConfig
from visionfit.errors import DataError
from visionfit.fileio import json_safe
from visionfit.plots.html import fmt
from visionfit.tasks.classification.module import ClassifierModule
from visionfit.tasks.classification.targets import split_class_problems
from visionfit.text import score_text


def _df(splits: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(f"{s}{i}.png", lab, s) for s, labs in splits.items() for i, lab in enumerate(labs)]
    return pd.DataFrame(rows, columns=["image", "label", "split"])


def test_a_class_without_training_images_is_an_error_naming_it():
    df = _df({"train": ["a", "a"], "val": ["a", "b"]})
    with pytest.raises(DataError, match="no training image: b"):
        split_class_problems(df, ["a", "b"], given=True)


def test_a_class_without_validation_images_drawn_is_an_error_given_is_a_note():
    df = _df({"train": ["a", "a", "b"], "val": ["a"]})
    with pytest.raises(DataError, match=r"no validation image: b \(1 image\).*--split-col"):
        split_class_problems(df, ["a", "b"], given=False)
    notes = split_class_problems(df, ["a", "b"], given=True)
    assert len(notes) == 1 and "b" in notes[0] and "n/a" in notes[0]
    assert (
        split_class_problems(_df({"train": ["a", "b"], "val": ["b", "a"]}), ["a", "b"], False) == []
    )


def test_binary_auroc_on_one_class_is_nan_not_zero():
    net = torch.nn.Linear(3, 1)
    module = ClassifierModule(net, "binary", 2, TrainConfig(), steps_per_epoch=1, param_groups=None)
    logged = {}
    module.log_dict = lambda d, **kw: logged.update({k: float(v) for k, v in d.items()})
    module.log = lambda *a, **kw: None
    module.validation_step((torch.randn(4, 3), torch.zeros(4, dtype=torch.long)), 0)
    module.on_validation_epoch_end()
    assert math.isnan(logged["val_auroc"])
    module.validation_step((torch.randn(4, 3), torch.tensor([0, 1, 0, 1])), 0)
    module.on_validation_epoch_end()
    assert 0.0 <= logged["val_auroc"] <= 1.0


def test_undefined_scores_are_shown_as_na_and_stored_as_null():
    assert score_text(float("nan")) == "n/a" and score_text(None) == "n/a"
    assert score_text(0.5) == "0.5000"
    assert fmt(float("nan")) == "n/a"
    assert json_safe({"val_auroc": float("nan")}) == {"val_auroc": None}


def test_check_refuses_the_split_train_would_refuse(tmp_path):
    """check draws the hold-out train draws (same seed, fractions) and tests it alike."""
    from visionfit.config import RunConfig
    from visionfit.data.synthetic import make_shapes_dataset
    from visionfit.tasks.check import check

    root = make_shapes_dataset(tmp_path / "d", n_per_class=6, size=16, classes=("a", "b"))
    make_shapes_dataset(tmp_path / "d", n_per_class=1, size=16, classes=("c",))
    cfg = RunConfig.from_dict({"data": {"path": str(root)}})
    report = check(cfg, use_cache=False)
    assert not report.usable
    assert any(
        "no validation image: c" in p or "no training image: c" in p for p in report.problems
    )
