"""The command line: train -> predict through real files, and one-line errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from visionfit.data.synthetic import make_shapes_dataset


def test_train_then_predict_from_the_command_line(shapes_dir, tmp_path, run_cli):
    runs = tmp_path / "runs"
    code, out, err = run_cli(
        [
            "train",
            shapes_dir,
            "--epochs",
            "6",
            "--img-size",
            "32",
            "--batch-size",
            "16",
            "--lr",
            "0.003",
            "--runs-dir",
            runs,
            "--name",
            "cli",
            "--workers",
            "0",
        ],
    )
    assert code == 0, err
    (run_dir,) = list(runs.iterdir())
    assert run_dir.name.startswith("cli-")
    assert "best epoch" in out and "val_acc" in out
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert cfg["train"]["epochs"] == 6 and cfg["augment"]["img_size"] == 32

    test_dir = make_shapes_dataset(tmp_path / "test", n_per_class=15, seed=7)
    preds = tmp_path / "preds.csv"
    code, out, err = run_cli(["predict", run_dir, test_dir, "--out", preds, "--tta"])
    assert code == 0, err
    df = pd.read_csv(preds)
    assert list(df.columns) == ["image", "pred", "prob_circle", "prob_square", "prob_triangle"]
    truth = [Path(p).parent.name for p in df["image"]]
    assert (df["pred"] == truth).mean() > 0.6

    # The predictions file is never overwritten.
    code, _, err = run_cli(["predict", run_dir, test_dir, "--out", preds])
    assert code == 2 and "exists" in err

    # A run's config.yaml reruns it; options given on the command line override it.
    code, _, err = run_cli(["train", "--config", run_dir / "config.yaml", "--epochs", "1"])
    assert code == 0, err
    second = sorted(runs.iterdir())[-1]
    assert second != run_dir
    cfg2 = yaml.safe_load((second / "config.yaml").read_text())
    assert cfg2["train"]["epochs"] == 1 and cfg2["train"]["lr"] == 0.003


def test_predict_from_a_csv(shapes_dir, tmp_path, run_cli):
    runs = tmp_path / "runs"
    code, _, err = run_cli(
        [
            "train",
            shapes_dir,
            "--epochs",
            "1",
            "--img-size",
            "32",
            "--runs-dir",
            runs,
            "--workers",
            "0",
        ],
    )
    assert code == 0, err
    (run_dir,) = list(runs.iterdir())
    csv = tmp_path / "inputs.csv"
    pd.DataFrame({"file": ["circle/circle_0000.png", "square/square_0001.png"]}).to_csv(csv)
    code, _, err = run_cli(
        [
            "predict",
            run_dir,
            csv,
            "--image-col",
            "file",
            "--root",
            shapes_dir,
            "--out",
            tmp_path / "p.csv",
        ],
    )
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "p.csv")) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "/no/such/folder"], "data folder not found: /no/such/folder"),
        (
            ["train", "{data}", "--model", "resnet5O"],
            "unknown model 'resnet5O'; did you mean resnet50",
        ),
        (
            ["train", "--csv", "{csv}", "--label-col", "y"],
            "column 'y' not in t.csv; columns are: image, label",
        ),
        (
            ["train", "{data}", "--model", "resnet18", "--pretrained"],
            "no pretrained weights for 'resnet18'",
        ),
        (["predict", "/no/run", "x.png"], "run directory not found: /no/run"),
    ],
)
def test_errors_are_one_line_without_traceback(args, message, tmp_path, run_cli, monkeypatch):
    data = make_shapes_dataset(tmp_path / "d", n_per_class=5)  # a hold-out with every class
    csv = tmp_path / "t.csv"
    pd.DataFrame({"image": ["circle/circle_0000.png"], "label": ["circle"]}).to_csv(
        csv, index=False
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args = [a.format(data=data, csv=csv) for a in args]
    code, out, err = run_cli(
        [*args, "--runs-dir", tmp_path / "runs"] if args[0] == "train" else args,
    )
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_console_script_exit_code_and_message(tmp_path):
    exe = Path(sys.executable).with_name("visionfit")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "visionfit.cli"]
    proc = subprocess.run(
        [*cmd, "train", str(tmp_path / "missing")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "error: data folder not found" in proc.stderr and "Traceback" not in proc.stderr
