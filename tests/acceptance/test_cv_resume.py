"""README "Resuming after a crash", K-fold runs: `visionfit train DATA --folds 2` killed with
SIGKILL in its second fold, then `visionfit train --resume RUN` continues it as a K-fold run
(the same folds.csv, the first fold's files untouched, a CV summary); a finished K-fold run and a
fold directory are refused with one line, and nothing is written."""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path

ARGS = ("--model", "simple_cnn", "--img-size", "32", "--epochs", "2", "--batch-size", "8")


def fingerprint(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under `root`: its bytes' hash and modification time."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_a_killed_cv_run_resumes_as_a_cv_run(vf, ws, binary, h):
    cwd = ws / "cv-resume"
    # 16 training images a fold: 2 steps an epoch; step 3 is in fold_1's second epoch
    kill = {"VISIONFIT_TEST_KILL": "fold:1:batch:3"}
    killed = vf("train", binary, "--folds", "2", *ARGS, cwd=cwd, env=kill)
    assert killed.rc == -signal.SIGKILL, killed.tail()
    (run,) = (cwd / "runs").iterdir()
    assert (run / "fold_0" / "model.safetensors").is_file()
    assert not (run / "fold_1" / "model.safetensors").exists()
    assert not (run / "summary.json").exists()
    folds = (run / "folds.csv").read_bytes()
    fold_0 = fingerprint(run / "fold_0")

    res = vf("train", "--resume", run.relative_to(cwd), cwd=cwd).ok()
    said = " ".join(res.err.split())
    assert "fold 1/2: finished, kept" in said, res.tail()
    assert "fold 2/2: resuming fold_1 from checkpoints/last.ckpt (epoch 1, step 2)" in said
    assert sorted(p.name for p in (cwd / "runs").iterdir()) == [run.name]  # same directory
    assert (run / "folds.csv").read_bytes() == folds
    assert fingerprint(run / "fold_0") == fold_0  # kept: not retrained, not rewritten
    summary = json.loads((run / "summary.json").read_text())
    assert summary["kind"] == "cv" and summary["folds"] == 2, summary
    assert len(summary["per_fold"]) == 2 and len(summary["best_epochs"]) == 2
    for name in ("oof.csv", "cv_summary.csv", "model.json", "report.html"):
        assert (run / name).is_file(), name
    assert (run / "fold_1" / "model.safetensors").is_file()
    assert len(h.read_csv(run / "fold_1" / "metrics.csv")) == 2  # both epochs, once each

    # finished now: refused with one line, and nothing is written
    before = fingerprint(run)
    line = h.one_line_error(vf("train", "--resume", run, cwd=cwd))
    assert "already finished" in line, line
    line = h.one_line_error(vf("train", "--resume", run / "fold_1", cwd=cwd))
    assert f"visionfit train --resume {run}" in line, line
    assert fingerprint(run) == before
