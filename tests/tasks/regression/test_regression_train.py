"""Image regression trains, predicts on the original scale, cross-validates and exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from visionfit.engine.cv import cross_validate
from visionfit.engine.fit import fit
from visionfit.errors import VisionfitError
from visionfit.inference.loading import load_run


@pytest.fixture(scope="module")
def holdout_run(disc_dir, regress_cfg, tmp_path_factory):
    runs = tmp_path_factory.mktemp("reg_runs")
    cfg = regress_cfg(disc_dir, runs, {"train.epochs": 4, "data.test_fraction": 0.15})
    return fit(cfg, progress=False)


def test_holdout_learns_the_target_above_chance(holdout_run):
    r = holdout_run
    assert r.task == "regress" and r.monitor == "val_rmse"
    assert r.val_score["metric"] == "r2"
    assert r.val_final["r2"] > 0.0  # better than predicting the mean
    # the epoch metric (torchmetrics, original scale) and the bundle's predictions agree
    assert r.best_metrics["val_r2"] == pytest.approx(r.val_final["r2"], abs=1e-4)
    assert r.test["metric"] == "r2" and np.isfinite(r.test["score"])
    summary = json.loads((r.run_dir / "summary.json").read_text())
    assert summary["main_metric"] == "r2" and summary["target"] == "y"


def test_bundle_stores_the_scaling_of_the_training_split(holdout_run):
    run = holdout_run.run_dir
    meta = json.loads((run / "model.json").read_text())
    splits = pd.read_csv(run / "splits.csv")
    train = splits.loc[splits["split"] == "train", "value"].to_numpy(np.float64)
    assert meta["task"] == "regress" and meta["task_family"] == "regression"
    assert meta["target_mean"] == pytest.approx(train.mean(), rel=1e-5)
    assert meta["target_std"] == pytest.approx(train.std(), rel=1e-5)


def test_predict_returns_values_on_the_original_scale(holdout_run, disc_dir):
    run = holdout_run.run_dir
    val = pd.read_csv(run / "val_predictions.csv")
    assert list(val.columns[:4]) == ["image", "target", "prediction", "residual"]
    predictor = load_run(run)
    table = predictor.predict(list(val["image"]))
    assert list(table.columns) == ["image", "prediction"]
    assert np.allclose(table["prediction"], val["prediction"], atol=1e-4)
    # radii are 3..13 px: predictions live there, not around 0 (the standardised scale)
    assert 3 < table["prediction"].mean() < 13
    assert (run / "test_predictions.csv").is_file()


def test_unreadable_input_gives_an_error_row(holdout_run, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    table = load_run(holdout_run.run_dir).predict([bad])
    assert np.isnan(table["prediction"].iloc[0]) and table["error"].iloc[0]


def test_export_onnx_parity_and_output_shape(holdout_run):
    pytest.importorskip("onnxruntime")
    from visionfit.inference.export import export_run

    res = export_run(holdout_run.run_dir, "onnx")
    assert res.meta["output"]["shape"] == ["batch", 1]
    assert res.meta["target_mean"] is not None
    assert res.max_abs_diff is not None and res.max_abs_diff < 1e-3
    # the real-image check: 1 - largest value difference / the target's std
    agreement = res.meta["agreement"]
    assert agreement["measure"] == "value" and agreement["images"] > 0
    std = res.meta["target_std"]
    assert agreement["agreement"] == pytest.approx(1 - agreement["max_prob_diff"] / std)


def test_two_folds_write_oof_and_cv_scores(disc_dir, regress_cfg, tmp_path):
    cfg = regress_cfg(disc_dir, tmp_path / "runs", {"cv.folds": 2, "train.epochs": 2})
    res = cross_validate(cfg, progress=False)
    oof = pd.read_csv(res.run_dir / "oof.csv")
    assert list(oof.columns) == ["image", "target", "prediction", "fold"]
    assert len(oof) == 80 and set(oof["fold"]) == {0, 1} and oof["prediction"].notna().all()
    assert set(res.mean) == {"val_r2", "val_mae", "val_rmse"}
    assert "± " in res.headline()
    summary = pd.read_csv(res.run_dir / "cv_summary.csv")
    assert list(summary["fold"]) == ["0", "1", "mean", "std", "oof"]
    # the fold ensemble predicts values on the original scale, each fold with its own scaling
    ens = load_run(res.run_dir).predict(list(oof["image"][:4]))
    assert 3 < ens["prediction"].mean() < 13
    # the report draws predicted-vs-true and the residuals from the out-of-fold predictions
    from visionfit.reports.html import write_report

    html = write_report(res.run_dir).read_text()
    assert "Out-of-fold predictions (oof.csv)" in html
    assert "pred_vs_true.png" in html and "residuals.png" in html


def test_typed_predictions_render_csv_json_and_console(holdout_run, disc_dir):
    from visionfit.tasks.base import PredictOutputs
    from visionfit.tasks.regression.outputs import RegressionPredictions

    images = [disc_dir / "images" / "img_000.png", disc_dir / "images" / "img_001.png"]
    preds = load_run(holdout_run.run_dir).predictions(images)
    assert isinstance(preds, RegressionPredictions) and len(preds) == 2
    body = preds.to_json(0)
    assert body["view"] == "value" and body["target"] == "y"
    assert body["prediction"] == pytest.approx(float(preds.values[0]))
    assert body["size"] == [32, 32]
    assert preds.rows()[1]["prediction"] == pytest.approx(float(preds.values[1]))
    line = preds.console_lines(PredictOutputs(out=Path("p.csv")))[0]
    assert "2 predictions of 'y'" in line
    with pytest.raises(VisionfitError, match="--masks-dir"):
        RegressionPredictions.prepare(PredictOutputs(masks_dir=Path("m")), images, "run")


@pytest.mark.parametrize("loss", ["mse", "huber", "l1"])
def test_each_loss_trains_on_the_standardised_target(loss):
    import torch

    from visionfit.config import TrainConfig
    from visionfit.tasks.regression.config import RegressConfig, regress_section
    from visionfit.tasks.regression.module import RegressorModule, ScaledRegressor
    from visionfit.tasks.regression.targets import TargetScaling

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 1))
    module = RegressorModule(
        ScaledRegressor(net, TargetScaling(50.0, 10.0)), TrainConfig(), loss=loss
    )
    x, y = torch.randn(6, 3, 4, 4), torch.full((6, 1), 50.0)
    loss_value, pred, _ = module._step((x, y))
    assert torch.isfinite(loss_value) and pred.shape == (6,)
    # the section plugs into the run config: --set, config.yaml, defaults, one-line errors
    import yaml

    from visionfit.config import RunConfig

    cfg = RunConfig().with_overrides({"regress.loss": loss})
    assert regress_section(cfg).loss == loss
    assert RunConfig.from_dict(yaml.safe_load(cfg.to_yaml())).regress.loss == loss
    assert regress_section(RunConfig()) == RegressConfig()  # not given: the defaults
    with pytest.raises(VisionfitError, match="regress.loss"):
        RunConfig().with_overrides({"regress.loss": "hinge"})


def test_rf_baseline_learns_the_target(disc_dir, tmp_path):
    from visionfit.config import BaselineConfig
    from visionfit.engine.baseline import run_baseline

    cfg = BaselineConfig.from_dict(
        {"data": {"csv": str(disc_dir / "t.csv"), "task": "regress", "label_col": "y"},
         "cv": {"folds": 2}, "size": 16, "n_jobs": 1, "runs_dir": str(tmp_path / "runs")}
    )  # fmt: skip
    res = run_baseline(cfg, progress=False)
    assert res.scores.oof["val_r2"] > 0.0  # the disc's size is in its pixels
    oof = pd.read_csv(res.run_dir / "oof.csv")
    assert list(oof.columns) == ["image", "target", "prediction", "fold"]
    preds = load_run(res.run_dir).predict(list(oof["image"][:4]))
    assert list(preds.columns) == ["image", "prediction"] and 3 < preds["prediction"].mean() < 13


def test_serve_answers_a_value_on_the_original_scale(holdout_run, disc_dir):
    from fastapi.testclient import TestClient

    from visionfit.serve.app import create_app

    image = disc_dir / "images" / "img_000.png"
    expected = load_run(holdout_run.run_dir).predict([image])["prediction"].iloc[0]
    with TestClient(create_app(holdout_run.run_dir)) as client:
        files = {"file": (image.name, image.read_bytes(), "image/png")}
        r = client.post("/predict", files=files)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["task"] == "regress" and body["target"] == "y"
        assert body["prediction"] == pytest.approx(expected, abs=1e-4)
        bad = client.post("/predict", files={"file": ("x.png", b"nope", "image/png")})
        assert bad.status_code in (415, 422)
