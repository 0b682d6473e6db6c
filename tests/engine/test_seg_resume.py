"""Segmentation runs are killed (SIGKILL) and resumed like classification runs: the same final
weights as an uninterrupted run, at three kill points, in deterministic mode."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

import visionfit
from visionfit.config import RunConfig
from visionfit.data.synthetic import make_segmentation_dataset

# 30 image/mask pairs: 24 train (6 steps of 4 per epoch), 6 val, 3 epochs, "medium" augmentation
# applied to image and mask together: a resumed run matches only if every draw repeats.
TRAIN = {"epochs": 3, "batch_size": 4, "lr": 3e-3, "patience": None, "seed": 5}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("segresume") / "data"
    return make_segmentation_dataset(root, 30, size=32, seed=3, empty_prob=0.2)


def config(data: Path, runs: Path, **train) -> RunConfig:
    return RunConfig.from_dict(
        {
            "runs_dir": str(runs),
            "data": {"path": str(data), "task": "segment", "workers": 0},
            "segment": {"arch": "unet", "width": 4},
            "augment": {"preset": "medium", "img_size": 32},
            "train": {**TRAIN, "deterministic": True, **train},
        }
    )


def weights_hash(run_dir: Path) -> str:
    return hashlib.sha256((run_dir / "model.safetensors").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    runs = tmp_path_factory.mktemp("segref")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VISIONFIT_CACHE", str(runs / "cache"))
        return visionfit.fit(config(data, runs), progress=False).run_dir


@pytest.mark.parametrize(
    ("kill_at", "train", "expect"),
    [
        ("batch:1", {}, "training again from epoch 0"),
        ("batch:10", {"checkpoint_steps": 2}, "from checkpoints/last.ckpt (epoch 1, step 8)"),
        ("epoch_end:1", {}, "from checkpoints/last.ckpt (epoch 1, step 6)"),
    ],
    ids=["early", "mid-epoch", "between-epochs"],
)
def test_segmentation_resume_after_sigkill_matches_an_uninterrupted_run(
    data, reference, tmp_path, run_cli, killed_train, kill_at, train, expect
):
    run_dir = killed_train(config(data, tmp_path / "runs", **train), tmp_path / "runs", kill_at)
    assert {"image", "label", "split"} <= set(pd.read_csv(run_dir / "splits.csv").columns)
    code, out, err = run_cli(["train", "--resume", run_dir])
    assert code == 0, err
    assert expect in " ".join(err.split())
    assert weights_hash(run_dir) == weights_hash(reference)
    assert (run_dir / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    summary = pd.read_json(run_dir / "summary.json", typ="series")
    assert summary["val_final"]["dice"] > 0  # the validation images were predicted and scored
    assert (run_dir / "val_scores.csv").is_file() and (run_dir / "curves.png").is_file()


def test_a_running_segmentation_run_is_locked(data, tmp_path):
    from visionfit.engine.resume import resume
    from visionfit.errors import RunError
    from visionfit.runs.lock import acquire_run_lock

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lock = acquire_run_lock(run_dir)
    try:
        (run_dir / "config.yaml").write_text(config(data, tmp_path).to_yaml())
        with pytest.raises(RunError, match="is being trained right now"):
            resume(run_dir, progress=False)
    finally:
        lock.release()
