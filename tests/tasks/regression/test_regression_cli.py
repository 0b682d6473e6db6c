"""End to end from the shell: `visionfit train --csv t.csv --task regress --label-col y`,
then predict, export and report, as a user runs them (subprocesses, no fakes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

VISIONFIT = [sys.executable, "-m", "visionfit.cli"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [*VISIONFIT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_train_predict_export_report_from_the_shell(disc_dir, tmp_path):
    train = _run(
        ["train", "--csv", str(disc_dir / "t.csv"), "--task", "regress", "--label-col", "y",
         "--model", "simple_cnn", "--img-size", "32", "--epochs", "2", "--batch-size", "16",
         "--augment", "none", "--workers", "0", "--runs-dir", "runs", "--name", "reg"],
        tmp_path,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    run = next((tmp_path / "runs").iterdir())
    assert json.loads((run / "model.json").read_text())["task"] == "regress"

    out = tmp_path / "pred.csv"
    pred = _run(["predict", str(run), str(disc_dir / "images"), "--out", str(out)], tmp_path)
    assert pred.returncode == 0, pred.stderr[-3000:]
    table = pd.read_csv(out)
    assert list(table.columns) == ["image", "prediction"] and len(table) == 80

    export = _run(["export", str(run), "--format", "onnx"], tmp_path)
    assert export.returncode == 0, export.stderr[-3000:]
    meta = json.loads((run / "export" / "onnx" / "export.json").read_text())
    assert meta["output"]["shape"] == ["batch", 1]

    report = _run(["report", str(run)], tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
