"""One training run end to end: learning, the run directory, the bundle and prediction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import visionfit
from visionfit.config import RunConfig
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.inference.predict import expand_inputs


@pytest.fixture(scope="module")
def multiclass_run(shapes_dir, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    cfg = RunConfig.from_dict(
        {
            "runs_dir": str(runs),
            "data": {"path": str(shapes_dir), "workers": 0},
            "augment": {"preset": "light", "img_size": 32},
            "train": {"epochs": 8, "batch_size": 16, "lr": 3e-3, "patience": None},
        }
    )
    return visionfit.fit(cfg, progress=False)


def test_multiclass_learns_well_above_chance(multiclass_run):
    r = multiclass_run
    assert r.task == "multiclass" and r.classes == ["circle", "square", "triangle"]
    assert r.monitor == "val_loss"
    assert r.best_metrics["val_acc"] > 0.6, r.best_metrics  # chance is 0.33
    for key in ("val_loss", "val_macro_f1", "val_balanced_acc", "train_loss", "train_acc"):
        assert key in r.best_metrics


def test_run_directory_contents(multiclass_run, shapes_dir):
    d = multiclass_run.run_dir
    assert d.name.startswith("simple_cnn-")
    for f in (
        "config.yaml",
        "classes.json",
        "splits.csv",
        "metrics.csv",
        "model.safetensors",
        "model.json",
        "summary.json",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
    ):
        assert (d / f).is_file(), f
    assert json.loads((d / "classes.json").read_text()) == ["circle", "square", "triangle"]
    splits = pd.read_csv(d / "splits.csv")
    assert len(splits) == 180 and (splits["split"] == "val").sum() == 36
    assert splits[splits["split"] == "val"]["label"].value_counts().to_dict() == {
        "circle": 12,
        "square": 12,
        "triangle": 12,
    }
    metrics = pd.read_csv(d / "metrics.csv")
    assert list(metrics["epoch"]) == list(range(8))
    for col in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert col in metrics.columns and metrics[col].notna().all()
    timing = pd.read_csv(d / "timing.csv")  # seconds per epoch, kept out of metrics.csv
    assert list(timing["epoch"]) == list(range(8)) and (timing["seconds"] > 0).all()
    cfg = yaml.safe_load((d / "config.yaml").read_text())
    assert cfg["train"]["monitor"] == "val_loss" and cfg["data"]["task"] == "multiclass"
    meta = json.loads((d / "model.json").read_text())
    assert meta["arch"] == "simple_cnn" and meta["classes"] == ["circle", "square", "triangle"]
    assert meta["img_size"] == 32 and meta["in_chans"] == 3 and len(meta["mean"]) == 3
    assert meta["best_epoch"] == multiclass_run.best_epoch


def test_bundle_matches_best_checkpoint(multiclass_run, shapes_dir):
    d = multiclass_run.run_dir
    predictor = visionfit.load(d)
    ckpt = torch.load(d / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    # best.ckpt holds the weights only; the optimizer state travels in last.ckpt alone (resume)
    assert "optimizer_states" not in ckpt and "lr_schedulers" not in ckpt
    assert ckpt["epoch"] == multiclass_run.best_epoch
    last = torch.load(d / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["optimizer_states"] and last["callbacks"]["ResumeCheckpoint"]["finished"]
    assert not list((d / "checkpoints").glob(".*.tmp"))  # every write finished and renamed
    state = {
        k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")
    }
    for k, v in predictor.model.state_dict().items():
        assert torch.equal(v, state[k]), k
    x = torch.randn(4, 3, 32, 32)
    from visionfit.models.factory import create_classifier

    ref = create_classifier("simple_cnn", 3).model
    ref.load_state_dict(state)
    ref.eval()
    with torch.no_grad():
        assert torch.allclose(predictor.model(x), ref(x))


def test_predict_csv_format_and_accuracy(multiclass_run, tmp_path):
    test_dir = make_shapes_dataset(tmp_path / "test", n_per_class=20, seed=99)
    paths = expand_inputs([test_dir])
    df = visionfit.load(multiclass_run.run_dir).predict(paths)
    assert list(df.columns) == ["image", "pred", "prob_circle", "prob_square", "prob_triangle"]
    assert len(df) == 60
    np.testing.assert_allclose(df.filter(like="prob_").sum(axis=1), 1.0, atol=1e-5)
    truth = [Path(p).parent.name for p in df["image"]]
    acc = float((df["pred"] == truth).mean())
    assert acc > 0.6
    # In-memory inputs give the same answer as files; TTA stays a probability.
    from PIL import Image

    img = Image.open(paths[0])
    p2 = visionfit.load(multiclass_run.run_dir).predict([img, np.asarray(img)], tta=True)
    assert p2["pred"].iloc[0] == p2["pred"].iloc[1]
    np.testing.assert_allclose(p2.filter(like="prob_").sum(axis=1), 1.0, atol=1e-5)


def test_predict_reports_unreadable_files_without_crashing(multiclass_run, tmp_path):
    good = make_shapes_dataset(tmp_path / "t", n_per_class=1) / "circle" / "circle_0000.png"
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    df = visionfit.load(multiclass_run.run_dir).predict([good, bad])
    assert df["pred"].iloc[0] != "" and df["pred"].iloc[1] == ""
    assert df["error"].iloc[1] == "not an image"


def test_config_yaml_reruns_and_runs_never_overwrite(multiclass_run, tmp_path):
    cfg = RunConfig.from_yaml(multiclass_run.run_dir / "config.yaml")
    cfg = cfg.with_overrides({"train.epochs": 1, "runs_dir": str(tmp_path)})
    a = visionfit.fit(cfg, progress=False)
    b = visionfit.fit(cfg, progress=False)
    assert a.run_dir != b.run_dir and a.run_dir.is_dir() and b.run_dir.is_dir()


def test_binary_run_reports_auroc_and_f1(binary_dir, tmp_path, fast_config):
    r = visionfit.fit(fast_config(binary_dir, tmp_path, epochs=6), progress=False)
    assert r.task == "binary" and r.monitor == "val_loss"
    assert r.best_metrics["val_auroc"] > 0.7, r.best_metrics
    assert "val_f1" in r.best_metrics
    meta = json.loads((r.run_dir / "model.json").read_text())
    assert meta["num_outputs"] == 1
    df = visionfit.load(r.run_dir).predict(expand_inputs([binary_dir / "circle"]))
    assert set(df.columns) == {"image", "pred", "prob_circle", "prob_square"}
    assert (df["pred"] == "circle").mean() > 0.7


def test_grayscale_input_and_timm_model(shapes_dir, tmp_path, fast_config):
    cfg = fast_config(shapes_dir, tmp_path, epochs=1).with_overrides(
        {"data.in_chans": 1, "model.name": "resnet10t", "augment.img_size": 32}
    )
    r = visionfit.fit(cfg, progress=False)
    meta = json.loads((r.run_dir / "model.json").read_text())
    assert meta["in_chans"] == 1 and len(meta["mean"]) == 1
    first_conv = next(
        m for m in visionfit.load(r.run_dir).model.modules() if isinstance(m, torch.nn.Conv2d)
    )
    assert first_conv.in_channels == 1
