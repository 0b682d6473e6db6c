"""Tracking: metrics.csv always; MLflow (params, per-epoch metrics, artifacts) and TensorBoard."""

from __future__ import annotations

import json

import pytest

import visionfit


def test_mlflow_run_is_found_with_params_metrics_and_artifacts(shapes_dir, tmp_path, fast_config):
    mlflow = pytest.importorskip("mlflow")
    store = tmp_path / "mlruns"
    cfg = fast_config(shapes_dir, tmp_path / "runs", epochs=3).with_overrides(
        {
            "tracking.logger": "mlflow",
            "tracking.mlflow_uri": str(store),
            "tracking.experiment": "vf-test",
        }
    )
    run = visionfit.fit(cfg, progress=False)
    assert (run.run_dir / "metrics.csv").is_file()  # the CSV is written whatever the logger
    assert run.tracking["logger"] == "mlflow"

    uri = f"sqlite:///{store.resolve() / 'mlflow.db'}"
    assert run.tracking["tracking_uri"] == uri
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["vf-test"])
    assert len(runs) == 1
    row = runs.iloc[0]
    assert row["run_id"] == run.tracking["run_id"]
    assert row["status"] == "FINISHED"
    assert row["params.model/name"] == "simple_cnn" and row["params.train/epochs"] == "3"
    assert row["tags.visionfit.run_dir"] == str(run.run_dir.resolve())
    client = mlflow.MlflowClient(uri)
    history = client.get_metric_history(row["run_id"], "val_loss")
    assert len(history) == 3  # one point per epoch
    assert "val_acc" in client.get_run(row["run_id"]).data.metrics
    artifacts = {a.path for a in client.list_artifacts(row["run_id"])}
    assert {"model.safetensors", "model.json", "metrics.csv", "curves.png"} <= artifacts
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["tracking"]["run_id"] == row["run_id"]


def test_tensorboard_logs_epoch_scalars(shapes_dir, tmp_path, fast_config):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = fast_config(shapes_dir, tmp_path, epochs=2).with_overrides(
        {"tracking.logger": "tensorboard"}
    )
    run = visionfit.fit(cfg, progress=False)
    log_dir = run.run_dir / "tensorboard"
    assert run.tracking == {"logger": "tensorboard", "log_dir": str(log_dir)}
    events = EventAccumulator(str(log_dir))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert "val_loss" in tags and "train_loss" in tags
    assert len(events.Scalars("val_loss")) == 2
    assert any(t.startswith("lr-") for t in tags)
