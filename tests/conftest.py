"""Shared fixtures: small generated datasets (no downloads) and a fast training config."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from visionfit.config import RunConfig
from visionfit.data.synthetic import make_shapes_dataset

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Rich reads the width once, when a console is made (at the first import of the CLI): in-process
# CLI tests see whole lines whichever test imports it first (under xdist, any of them)
os.environ["COLUMNS"] = "200"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on two cores: one thread each (and in the processes they
    # start), else four threads fight over two cores and the tiny models run slower
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory) -> Path:
    """Three learnable classes (circle, square, triangle), 60 images each, 32 px."""
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes") / "data", n_per_class=60)


@pytest.fixture(scope="session")
def binary_dir(tmp_path_factory) -> Path:
    return make_shapes_dataset(
        tmp_path_factory.mktemp("binary") / "data",
        n_per_class=100,
        classes=("circle", "square"),
        seed=1,
    )


def _fast_config(data: Path, runs_dir: Path, **train) -> RunConfig:
    return RunConfig.from_dict(
        {
            "runs_dir": str(runs_dir),
            "data": {"path": str(data), "workers": 0},
            "model": {"name": "simple_cnn"},
            "augment": {"preset": "light", "img_size": 32},
            "train": {"epochs": 8, "batch_size": 16, "lr": 3e-3, "patience": None, **train},
        }
    )


@pytest.fixture
def fast_config():
    """Build a config that trains simple_cnn on tiny images in seconds."""
    return _fast_config


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run `visionfit ARGS...` in-process: run_cli([...]) -> (exit code, stdout, stderr)."""

    def run(args: list) -> tuple[int, str, str]:
        from visionfit.cli import main

        monkeypatch.setattr(sys, "argv", ["visionfit", *map(str, args)])
        monkeypatch.setenv("COLUMNS", "200")  # tables keep their columns
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def killed_train():
    """killed_train(cfg, runs_dir, kill_at) -> the run directory of `visionfit train --config`
    run in a subprocess that SIGKILLs itself at `kill_at` (engine/resumable.py:TestKillSwitch)."""
    import subprocess

    def run(cfg: RunConfig, runs_dir: Path, kill_at: str) -> Path:
        cfg_file = runs_dir.parent / f"{runs_dir.name}-config.yaml"
        cfg_file.write_text(cfg.with_overrides({"runs_dir": str(runs_dir)}).to_yaml())
        exe = Path(sys.executable).with_name("visionfit")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "visionfit.cli"]
        proc = subprocess.run(
            [*cmd, "train", "--config", str(cfg_file)],
            env=dict(os.environ, VISIONFIT_TEST_KILL=kill_at),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == -9, proc.stderr[-3000:]  # killed by SIGKILL, not an error
        (run_dir,) = runs_dir.iterdir()
        assert not (run_dir / "model.safetensors").exists()
        return run_dir

    return run
