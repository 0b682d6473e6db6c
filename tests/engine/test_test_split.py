"""The test split: drawn or given, kept out of training, validation, folds, tuning and the
baseline, and scored once at the end with the finished run's own predictions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import visionfit
from visionfit.config import BaselineConfig, RunConfig
from visionfit.data import datasets
from visionfit.data.splits import holdout_split
from visionfit.data.synthetic import make_segmentation_dataset, make_shapes_dataset
from visionfit.errors import DataError, VisionfitError


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("ts") / "d", n_per_class=20, size=16)


def cfg_for(data, runs, **data_opts) -> RunConfig:
    return RunConfig.from_dict(
        {
            "runs_dir": str(runs),
            "data": {"path": str(data), "workers": 0, "test_fraction": 0.2, **data_opts},
            "augment": {"preset": "light", "img_size": 16},
            "train": {"epochs": 3, "batch_size": 16, "lr": 3e-3, "patience": None},
        }
    )


def table(n_per_class: int = 30, classes: int = 3) -> pd.DataFrame:
    labels = np.repeat(np.arange(classes), n_per_class)
    return pd.DataFrame(
        {"image": [f"i{i}" for i in range(len(labels))], "target": labels, "split": ""}
    )


def test_holdout_split_draws_a_stratified_test_split_apart_from_val():
    out = holdout_split(table(), 0.2, seed=3, test_fraction=0.1)
    counts = out["split"].value_counts()
    assert counts["test"] == 9 and counts["val"] == 18 and counts["train"] == 63
    assert out[out["split"] == "test"]["target"].value_counts().tolist() == [3, 3, 3]
    again = holdout_split(table(), 0.2, seed=3, test_fraction=0.1)
    assert out["split"].tolist() == again["split"].tolist()  # deterministic
    assert (holdout_split(table(), 0.2, seed=3)["split"] != "test").all()


def test_a_given_test_split_is_kept_and_val_is_drawn_from_train():
    df = table()
    df.loc[:9, "split"] = "test"
    df.loc[10:, "split"] = "train"
    out = holdout_split(df, 0.2, seed=0, test_fraction=0.3)
    assert (out.loc[:9, "split"] == "test").all()  # given: not drawn again
    assert (out["split"] == "test").sum() == 10
    assert (out["split"] == "val").sum() == 18


def test_fractions_that_leave_no_training_data_are_refused():
    with pytest.raises(VisionfitError, match="less than 10%"):
        RunConfig.from_dict({"data": {"val_fraction": 0.5, "test_fraction": 0.45}})
    with pytest.raises(DataError, match="for testing"):
        holdout_split(table(2, 2), 0.25, seed=0, test_fraction=0.01)


def test_train_never_sees_the_test_split_and_scores_it_once(data, tmp_path, monkeypatch):
    seen: list[str] = []
    original = datasets.ImageDataset.__getitem__

    def spy(self, key):
        i = key[1] if isinstance(key, tuple) else key
        seen.append(str(self.images[i]))
        return original(self, key)

    monkeypatch.setattr(datasets.ImageDataset, "__getitem__", spy)
    result = visionfit.fit(
        cfg_for(data, tmp_path).with_overrides({"train.epochs": 10}), progress=False
    )
    splits = pd.read_csv(result.run_dir / "splits.csv")
    test_images = set(splits.loc[splits["split"] == "test", "image"])
    assert len(test_images) == 12 and result.n_test == 12
    assert seen and not test_images & set(seen)  # neither train, val nor threshold tuning
    assert set(seen) == set(splits.loc[splits["split"] != "test", "image"])

    scores = json.loads((result.run_dir / "test_scores.json").read_text())
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["test"]["score"] == pytest.approx(scores["score"])
    assert summary["val_score"]["metric"] == scores["metric"] == "acc"
    # my own scoring of the run's predictions matches what it reported
    test = splits[splits["split"] == "test"]
    pred = visionfit.load(result.run_dir).predict(list(test["image"]))
    assert scores["score"] == pytest.approx(float((pred["pred"].values == test["label"]).mean()))
    assert scores["score"] > 0.5  # three classes: chance is 1/3


def test_resume_keeps_the_test_rows_out(data, tmp_path):
    from visionfit.engine.resume import resume

    result = visionfit.fit(cfg_for(data, tmp_path), progress=False)
    run = result.run_dir
    for name in ("model.safetensors", "summary.json", "test_scores.json"):
        (run / name).unlink()
    again = resume(run, progress=False)
    assert again.n_test == 12 and again.n_train == result.n_train
    assert (run / "test_scores.json").is_file()


def test_csv_split_column_and_cv_and_baseline_leave_test_rows_out(data, tmp_path):
    images = sorted(str(p) for p in data.rglob("*.png"))
    split = ["test" if i % 5 == 0 else ("val" if i % 5 == 1 else "train") for i in range(60)]
    csv = tmp_path / "labels.csv"
    pd.DataFrame(
        {"image": images, "label": [p.split("/")[-2] for p in images], "part": split}
    ).to_csv(csv, index=False)
    cfg = RunConfig.from_dict(
        {
            **cfg_for(data, tmp_path).model_dump(),
            "data": {"csv": str(csv), "split_col": "part", "workers": 0},
            "cv": {"folds": 2},
        }
    )
    test = {im for im, s in zip(images, split, strict=True) if s == "test"}
    cv = visionfit.cross_validate(cfg, progress=False)
    folds = pd.read_csv(cv.run_dir / "folds.csv")
    assert len(folds) == 48 and not test & set(folds["image"])
    assert set(pd.read_csv(cv.run_dir / "test.csv")["image"]) == test
    assert cv.test["n_test"] == 12 and 0.0 <= cv.test["score"] <= 1.0

    base = BaselineConfig.from_dict(
        {"data": {"path": str(data), "test_fraction": 0.2}, "runs_dir": str(tmp_path), "n_jobs": 1}
    )
    from visionfit.engine.baseline import run_baseline

    bl = run_baseline(
        base.model_copy(update={"cv": base.cv.model_copy(update={"folds": 2})}), progress=False
    )
    held = pd.read_csv(
        visionfit.fit(cfg_for(data, tmp_path / "f"), progress=False).run_dir / "splits.csv"
    )
    assert set(pd.read_csv(bl.run_dir / "folds.csv")["image"]) == set(
        held.loc[held["split"] != "test", "image"]
    )

    bad = pd.read_csv(csv).assign(part="holdout")
    bad.to_csv(csv, index=False)
    with pytest.raises(DataError, match="split-col 'part'.*holdout"):
        visionfit.fit(cfg.with_overrides({"cv.folds": 0}), progress=False)


def test_segmentation_test_split_is_scored_with_dice(tmp_path):
    data = make_segmentation_dataset(tmp_path / "seg", 20, size=32, seed=2)
    cfg = RunConfig.from_dict(
        {
            "runs_dir": str(tmp_path / "runs"),
            "data": {"path": str(data), "task": "segment", "workers": 0, "test_fraction": 0.2},
            "segment": {"width": 4},
            "augment": {"preset": "none", "img_size": 32},
            "train": {"epochs": 2, "batch_size": 8, "patience": None},
        }
    )
    result = visionfit.fit(cfg, progress=False)
    scores = json.loads((result.run_dir / "test_scores.json").read_text())
    assert scores["metric"] == "dice" and scores["n_test"] == 4
    assert 0.0 <= scores["score"] <= 1.0
    per_image = pd.read_csv(result.run_dir / "test_scores_per_image.csv")
    splits = pd.read_csv(result.run_dir / "splits.csv")
    assert set(per_image["image"]) == set(splits.loc[splits["split"] == "test", "image"])
    assert scores["score"] == pytest.approx(per_image["dice"].mean())
    assert (result.run_dir / "val_scores.csv").is_file()  # not overwritten by the test's
