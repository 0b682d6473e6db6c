"""Two processes through Lightning (gloo on the CPU): one normal run directory, written once,
whose validation metrics cover every validation image (not one process's shard)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import visionfit
from visionfit.data.synthetic import make_shapes_dataset


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("visionfit")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "visionfit.cli"]


@pytest.mark.slow
def test_two_process_ddp_run_writes_one_run_with_metrics_over_all_val_images(tmp_path):
    data = make_shapes_dataset(tmp_path / "data", n_per_class=21, size=16, seed=3)
    runs = tmp_path / "runs"
    env = {**os.environ, "VISIONFIT_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    env.pop("VISIONFIT_RUN_DIR", None)
    args = ["train", str(data), "--img-size", "16", "--epochs", "3", "--batch-size", "8"]
    args += ["--lr", "3e-3", "--devices", "2", "--strategy", "ddp", "--accelerator", "cpu"]
    args += ["--runs-dir", str(runs), "--workers", "0", "--patience", "0"]
    proc = subprocess.run(
        [*_cli(), *args], env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = runs.iterdir()  # written once, by the main process
    summary = json.loads((run_dir / "summary.json").read_text())
    splits = pd.read_csv(run_dir / "splits.csv")
    val = splits[splits["split"] == "val"]
    assert summary["n_val"] == len(val) == 13  # 63 images, 20 % held out: odd on purpose
    # 50 training images over 2 processes of 25, batches of 8: 3 steps per epoch and process
    # (a last batch of a single image is dropped, as in one process)
    metrics = pd.read_csv(run_dir / "metrics.csv")
    assert list(metrics["epoch"]) == [0, 1, 2]
    best = metrics[metrics["epoch"] == summary["best_epoch"]].iloc[0]
    # the bundle is the best epoch's model: its accuracy on all 13 validation images is the
    # logged val_acc, which a metric over one process's shard (6 or 7 images) would not be
    pred = visionfit.load(run_dir).predict(list(val["image"]))
    acc = float((pred["pred"].to_numpy() == val["label"].to_numpy()).mean())
    assert acc == pytest.approx(best["val_acc"], abs=1e-6)
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 3 * 3
