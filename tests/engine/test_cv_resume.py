"""`visionfit train --resume` of a K-fold run continues it as a K-fold run: finished folds kept
(not retrained, not rewritten), the killed fold from its checkpoint, the rest trained, and the
run's outputs as an uninterrupted run writes them; and what `--resume` refuses, for every kind
of directory (runs/kind.py decides what a directory is)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import visionfit
from visionfit.config import RunConfig
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.engine import resumable
from visionfit.engine.cv import CVResult
from visionfit.engine.resume import resume
from visionfit.errors import RunError
from visionfit.runs.kind import fold_finished, is_finished, run_kind
from visionfit.runs.lock import RunLock

# 3 classes x 12 images, 2 folds: 18 training images a fold, 3 steps of 8 per epoch, 2 epochs.
TRAIN = {"epochs": 2, "batch_size": 8, "lr": 3e-3, "patience": None, "seed": 3}
TRAIN.update(deterministic=True)
OUTPUTS = ("oof.csv", "cv_summary.csv", "model.json", "folds.csv")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cvresume") / "data"
    return make_shapes_dataset(root, n_per_class=12, size=16)


def config(data: Path, runs: Path) -> RunConfig:
    return RunConfig.from_dict(
        {
            "runs_dir": str(runs),
            "data": {"path": str(data), "workers": 0},
            "model": {"name": "simple_cnn", "drop_rate": 0.2},
            "augment": {"preset": "light", "img_size": 16},
            "train": TRAIN,
            "cv": {"folds": 2, "refit": True},
        }
    )


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory) -> Path:
    """An uninterrupted 2-fold run with a refit: every resumed run must end with its outputs."""
    runs = tmp_path_factory.mktemp("ref")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VISIONFIT_CACHE", str(runs / "cache"))
        return visionfit.cross_validate(config(data, runs), progress=False).run_dir


class Crash(Exception):
    pass


def crashed_cv(data: Path, runs: Path, monkeypatch, kill_at: str) -> Path:
    """A K-fold run killed at `kill_at` (a fold-qualified VISIONFIT_TEST_KILL), in this process:
    the hook raises instead of SIGKILL."""

    def crash(self):
        raise Crash(kill_at)

    monkeypatch.setattr(resumable.TestKillSwitch, "_die", crash)
    monkeypatch.setenv("VISIONFIT_TEST_KILL", kill_at)
    with pytest.raises(Crash):
        visionfit.cross_validate(config(data, runs), progress=False)
    monkeypatch.delenv("VISIONFIT_TEST_KILL")
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    assert not (run_dir / "summary.json").exists()
    return run_dir


def fingerprint(root: Path) -> dict[str, tuple[str, int]]:
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def same_outputs(run_dir: Path, reference: Path) -> None:
    for name in OUTPUTS:
        assert (run_dir / name).read_text() == (reference / name).read_text(), name
    for member in ("fold_0", "fold_1", "refit"):
        got = (run_dir / member / "model.safetensors").read_bytes()
        assert got == (reference / member / "model.safetensors").read_bytes(), member
    summary = json.loads((run_dir / "summary.json").read_text())
    want = json.loads((reference / "summary.json").read_text())
    assert summary["kind"] == "cv" and summary["cv_mean"] == want["cv_mean"]
    assert summary["best_epochs"] == want["best_epochs"]
    assert (run_dir / "report.html").is_file() and is_finished(run_dir)


def test_killed_in_fold_2_resumes_as_a_cv_run(data, reference, tmp_path, monkeypatch):
    # after step 5: epoch 1 of fold_1 (the second fold), whose last.ckpt is epoch 1's start
    run_dir = crashed_cv(data, tmp_path / "runs", monkeypatch, "fold:1:batch:5")
    assert run_kind(run_dir) == "unfinished_cv" and run_kind(run_dir / "fold_1") == "fold"
    assert fold_finished(run_dir / "fold_0") and not fold_finished(run_dir / "fold_1")
    kept = fingerprint(run_dir / "fold_0")
    lines: list[str] = []
    result = resume(run_dir, progress=False, say=lines.append)
    assert isinstance(result, CVResult) and result.folds == 2
    assert lines == [
        f"resuming the 2-fold run {run_dir} and its refit",
        "fold 1/2: finished, kept (fold_0/fold.json)",
        "fold 2/2: resuming fold_1 from checkpoints/last.ckpt (epoch 1, step 3)",
    ]
    assert fingerprint(run_dir / "fold_0") == kept  # not retrained, not rewritten
    same_outputs(run_dir, reference)
    assert sorted(p.name for p in run_dir.parent.iterdir() if p.is_dir()) == [run_dir.name]


def test_killed_in_the_refit_resumes_the_refit(data, reference, tmp_path, monkeypatch):
    run_dir = crashed_cv(data, tmp_path / "runs", monkeypatch, "refit:batch:2")
    assert run_kind(run_dir / "refit") == "fold"
    folds = {k: fingerprint(run_dir / k) for k in ("fold_0", "fold_1")}
    lines: list[str] = []
    resume(run_dir, progress=False, say=lines.append)
    assert lines[1:3] == [
        "fold 1/2: finished, kept (fold_0/fold.json)",
        "fold 2/2: finished, kept (fold_1/fold.json)",
    ]
    assert lines[3].startswith("the refit: ")  # killed in its first epoch: trained again
    assert {k: fingerprint(run_dir / k) for k in folds} == folds
    same_outputs(run_dir, reference)


def test_killed_after_the_folds_only_writes_the_outputs(reference, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    for name in ("summary.json", "oof.csv", "cv_summary.csv", "report.html"):
        (run_dir / name).unlink()
    members = {k: fingerprint(run_dir / k) for k in ("fold_0", "fold_1", "refit")}
    lines: list[str] = []
    resume(run_dir, progress=False, say=lines.append)
    assert lines[1:] == [
        "fold 1/2: finished, kept (fold_0/fold.json)",
        "fold 2/2: finished, kept (fold_1/fold.json)",
        "the refit: finished, kept (refit/fold.json)",
    ]
    assert {k: fingerprint(run_dir / k) for k in members} == members
    same_outputs(run_dir, reference)


def test_killed_before_its_folds_were_written_draws_them_and_trains(reference, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(reference / "config.yaml", run_dir / "config.yaml")  # the first file written
    assert run_kind(run_dir) == "unfinished_cv"
    lines: list[str] = []
    resume(run_dir, progress=False, say=lines.append)
    assert lines == [f"resuming the 2-fold run {run_dir} and its refit"]  # nothing to keep
    same_outputs(run_dir, reference)


def test_resume_refuses_what_it_cannot_continue(data, reference, tmp_path):
    before = fingerprint(reference)
    with pytest.raises(RunError, match="already finished .a finished K-fold cross-validation"):
        resume(reference)
    for member in ("fold_1", "refit"):
        with pytest.raises(RunError, match=f"is {member}/ of the K-fold run {reference}: "):
            resume(reference / member)
    assert fingerprint(reference) == before
    # a K-fold run another process is training (its lock is held)
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    (run_dir / "summary.json").unlink()
    with RunLock(run_dir), pytest.raises(RunError, match="is being trained right now"):
        resume(run_dir)
    # the data changed since the run started (the run on a copy of it, which then grows)
    changed = tmp_path / "data"
    shutil.copytree(data, changed)
    for name in ("config.yaml", "folds.csv"):
        text = (run_dir / name).read_text().replace(str(data), str(changed))
        (run_dir / name).write_text(text)
    shutil.copy(next((changed / "circle").iterdir()), changed / "circle" / "extra.png")
    with pytest.raises(RunError, match="changed since the run started: 1 images were added"):
        resume(run_dir, progress=False)


def _dir(root: Path, name: str, files: dict[str, str]) -> Path:
    d = root / name
    d.mkdir(parents=True)
    for file, text in files.items():
        (d / file).write_text(text)
    return d


def test_what_kind_of_directory_and_what_resume_says(tmp_path):
    auto = _dir(tmp_path, "auto", {"auto.json": '{"status": "running"}'})
    assert run_kind(auto) == "auto" and not is_finished(auto)
    with pytest.raises(RunError, match=f"continue it with visionfit auto --resume {auto}$"):
        resume(auto)
    (auto / "auto.json").write_text('{"status": "finished"}')
    assert is_finished(auto)
    with pytest.raises(RunError, match="already finished .a finished `visionfit auto`"):
        resume(auto)
    tune = _dir(tmp_path, "tune-s", {"trials.csv": "number\n"})
    trial = _dir(tune / "trials", "simple_cnn-1", {"config.yaml": "{}\n"})
    assert (run_kind(tune), run_kind(trial)) == ("tune", "trial")
    for d in (tune, trial):
        with pytest.raises(RunError, match="run the same `visionfit tune` command again"):
            resume(d)
    base = _dir(tmp_path, "baseline", {"config.yaml": "model: rf\nfeatures: hog\n"})
    (base / "folds.csv").write_text("image,label,fold\n")
    assert run_kind(base) == "unfinished_baseline"
    with pytest.raises(RunError, match="visionfit baseline --config .*config.yaml$"):
        resume(base)
    base_fold = _dir(base, "fold_0", {"model.json": '{"kind": "baseline"}'})
    assert run_kind(base_fold) == "fold"
    with pytest.raises(RunError, match="of the baseline run .*: baselines are not resumed"):
        resume(base_fold)
    cv = _dir(tmp_path, "cv", {"config.yaml": "cv: {folds: 2}\n", "classes.json": "[]"})
    assert run_kind(cv) == "unfinished_cv"  # killed before its folds.csv: its config says
    (cv / "folds.csv").write_text("image,label,fold\n")
    fold = _dir(cv, "fold_0", {"config.yaml": "{}\n"})
    assert (run_kind(cv), run_kind(fold)) == ("unfinished_cv", "fold")
    (cv / "model.json").write_text('{"kind": "cv"}')  # killed after the ensemble's model.json
    assert run_kind(cv) == "unfinished_cv"
    single = _dir(tmp_path, "single", {"config.yaml": "{}\n"})
    assert run_kind(single) == "unfinished" and run_kind(tmp_path / "nothing") == "none"
    for name in ("classes.json", "splits.csv", "model.json", "model.safetensors"):
        (single / name).write_text("{}")  # killed after its bundle, before summary.json
    assert run_kind(single) == "unfinished" and not is_finished(single)
    with pytest.raises(RunError, match="run directory not found"):
        resume(tmp_path / "nothing")
