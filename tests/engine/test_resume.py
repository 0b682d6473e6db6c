"""Never losing work: kill a training process (SIGKILL) and resume it; fall back from a damaged
checkpoint; identical results for the same seed; a read-only dataset stays untouched."""

from __future__ import annotations

import hashlib
import shutil
import stat
from pathlib import Path

import pandas as pd
import pytest
import torch

import visionfit
from visionfit.config import RunConfig
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.engine import resumable
from visionfit.engine.resume import find_resume_checkpoint, resume
from visionfit.errors import RunError
from visionfit.runs.lock import RunLock

# 3 classes x 20 images: 48 train (6 steps of 8 per epoch), 12 val, 3 epochs. Dropout and the
# "medium" augmentation make every random draw count: a resumed run matches only if all repeat.
TRAIN = {
    "epochs": 3,
    "batch_size": 8,
    "lr": 3e-3,
    "patience": None,
    "seed": 7,
    "deterministic": True,
}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_shapes_dataset(tmp_path_factory.mktemp("resume") / "data", n_per_class=20, size=16)


def config(data: Path, runs: Path, **train) -> RunConfig:
    return RunConfig.from_dict(
        {
            "runs_dir": str(runs),
            "data": {"path": str(data), "workers": 0},
            "model": {"name": "simple_cnn", "drop_rate": 0.2},
            "augment": {"preset": "medium", "img_size": 16},
            "train": {**TRAIN, **train},
        }
    )


def weights_hash(run_dir: Path) -> str:
    return hashlib.sha256((run_dir / "model.safetensors").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """An uninterrupted run; every resumed run below must end with exactly its weights."""
    runs = tmp_path_factory.mktemp("ref")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VISIONFIT_CACHE", str(runs / "cache"))
        return visionfit.fit(config(data, runs), progress=False).run_dir


@pytest.mark.parametrize(
    ("kill_at", "train", "expect"),
    [
        # early: after the first step of epoch 0, before any checkpoint exists
        ("batch:1", {}, "training again from epoch 0"),
        # mid-epoch: after step 10 (epoch 1, 4th of 6 steps); with --checkpoint-steps 2 the
        # last checkpoint was taken before step 9, so two steps are trained again
        ("batch:10", {"checkpoint_steps": 2}, "from checkpoints/last.ckpt (epoch 1, step 8)"),
        # between epochs: after epoch 1's validation and metrics row, before epoch 2; the last
        # checkpoint is the start of epoch 1, so epoch 1 is trained again
        ("epoch_end:1", {}, "from checkpoints/last.ckpt (epoch 1, step 6)"),
    ],
    ids=["early", "mid-epoch", "between-epochs"],
)
def test_resume_after_sigkill_matches_an_uninterrupted_run(
    data, reference, tmp_path, monkeypatch, kill_at, train, expect, run_cli, killed_train
):
    run_dir = killed_train(config(data, tmp_path / "runs", **train), tmp_path / "runs", kill_at)
    if kill_at.startswith("epoch_end"):
        assert len(pd.read_csv(run_dir / "metrics.csv")) == int(kill_at[-1]) + 1
    code, out, err = run_cli(["train", "--resume", run_dir])
    assert code == 0, err
    assert expect in " ".join(err.split())
    assert (run_dir / "summary.json").is_file() and "best epoch" in out
    # Every draw (order, augmentation, dropout) repeats: the same weights and the same metrics.
    assert weights_hash(run_dir) == weights_hash(reference)
    assert (run_dir / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    assert not (run_dir / "checkpoints" / "previous.ckpt").exists()  # only kept while training


class Crash(Exception):
    pass


def crashed_run(data: Path, runs: Path, monkeypatch, kill_at: str, **train) -> Path:
    """Like a kill at `kill_at`, in this process: the hook raises instead of SIGKILL."""

    def crash(self):
        raise Crash(kill_at)

    monkeypatch.setattr(resumable.TestKillSwitch, "_die", crash)
    monkeypatch.setenv("VISIONFIT_TEST_KILL", kill_at)
    with pytest.raises(Crash):
        visionfit.fit(config(data, runs, **train), progress=False)
    monkeypatch.delenv("VISIONFIT_TEST_KILL")
    (run_dir,) = runs.iterdir()
    return run_dir


def test_truncated_last_checkpoint_falls_back_to_the_previous_one(
    data, reference, tmp_path, monkeypatch
):
    run_dir = crashed_run(data, tmp_path / "runs", monkeypatch, "batch:10", checkpoint_steps=2)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert (run_dir / "checkpoints" / "previous.ckpt").is_file()
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    lines: list[str] = []
    result = resume(run_dir, progress=False, say=lines.append)
    assert lines[0].startswith("checkpoints/last.ckpt is unreadable or truncated")
    assert "from checkpoints/previous.ckpt instead (epoch 1, step 6)" in lines[1]
    assert result.notes[0] == "resumed from previous.ckpt"
    assert weights_hash(run_dir) == weights_hash(reference)


def test_checkpoint_choice_names_each_unusable_file(reference, tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    good = reference / "checkpoints" / "last.ckpt"
    (ckpts / "last.ckpt").write_bytes(good.read_bytes()[:1000])
    shutil.copy(good, ckpts / "previous.ckpt")
    choice = find_resume_checkpoint(tmp_path / "run")
    assert choice.path == ckpts / "previous.ckpt" and choice.finished and choice.epoch == 3
    assert choice.messages[0].startswith("checkpoints/last.ckpt is unreadable or truncated (")
    (ckpts / "last.ckpt").unlink()
    (ckpts / "previous.ckpt").write_bytes(b"")
    choice = find_resume_checkpoint(tmp_path / "run")
    assert choice.path is None
    assert choice.messages[0] == "checkpoints/last.ckpt is missing"
    assert choice.messages[1].startswith("checkpoints/previous.ckpt is unreadable or truncated")
    # A file that loads but is not a training checkpoint (e.g. a bare state dict) is refused.
    torch.save({"weight": torch.zeros(2)}, ckpts / "last.ckpt")
    assert find_resume_checkpoint(tmp_path / "run").messages[0] == (
        "checkpoints/last.ckpt is not a complete training checkpoint"
    )


def test_killed_after_training_only_writes_the_bundle(reference, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    for name in ("model.safetensors", "model.json", "summary.json"):
        (run_dir / name).unlink()
    lines: list[str] = []
    resume(run_dir, progress=False, say=lines.append)
    assert lines == ["training had finished (last.ckpt); writing the bundle and summary"]
    assert weights_hash(run_dir) == weights_hash(reference)
    assert (run_dir / "model.json").read_text() == (reference / "model.json").read_text()


def test_resume_refusals(data, reference, tmp_path, run_cli):
    with pytest.raises(RunError, match="already finished"):
        resume(reference)
    with pytest.raises(RunError, match="has no config.yaml"):
        resume(tmp_path)
    code, _, err = run_cli(["train", "--resume", reference, "--epochs", "5", "--lr", "0.1"])
    assert code == 2 and "drop --epochs, --lr" in " ".join(err.split())
    (reference / "summary.json").rename(tmp_path / "summary.json")
    try:
        with RunLock(reference), pytest.raises(RunError, match="is being trained right now"):
            resume(reference)  # another process (here: this one) holds the run
    finally:
        (tmp_path / "summary.json").rename(reference / "summary.json")


def test_same_seed_same_result_other_seed_differs(data, reference, tmp_path):
    again = visionfit.fit(config(data, tmp_path / "a"), progress=False).run_dir
    assert weights_hash(again) == weights_hash(reference)
    assert (again / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    assert (again / "splits.csv").read_text() == (reference / "splits.csv").read_text()
    other = visionfit.fit(config(data, tmp_path / "b", seed=8), progress=False).run_dir
    assert weights_hash(other) != weights_hash(reference)
    # Timing is kept out of metrics.csv (it differs between runs) and lives in timing.csv.
    assert list(pd.read_csv(again / "timing.csv").columns) == ["epoch", "seconds"]
    assert "seconds" not in pd.read_csv(again / "metrics.csv").columns


def _fingerprint(root: Path) -> dict[str, tuple]:
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        out[str(p.relative_to(root))] = (digest, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
    return out


def test_read_only_dataset_is_never_written(data, tmp_path):
    ro = tmp_path / "ro"
    shutil.copytree(data, ro)
    (ro / "circle" / "broken.png").write_bytes(b"")  # the scan must not try to fix or move it
    for p in [ro, *ro.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        before = _fingerprint(ro)
        result = visionfit.fit(config(ro, tmp_path / "runs", epochs=1), progress=False)
        assert result.skipped_files == 1
        # Hashes, modification times, permissions and the list of files are all unchanged (as
        # root the permission bits do not stop writes, so this is the real check).
        assert _fingerprint(ro) == before
        run_files = {p.name for p in result.run_dir.rglob("*")}
        assert not [n for n in run_files if n.endswith(".tmp")]  # atomic writes left nothing
    finally:
        for p in [ro, *ro.rglob("*")]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
