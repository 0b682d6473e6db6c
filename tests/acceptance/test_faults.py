"""Faults a user's machine has: a full disk under --runs-dir / --out, and a flawed --set value.
Each ends in one line and exit 2 naming the path, nothing in the data changes, and what a
training run wrote before the disk filled stays (for --resume).

The full disk is a real 1 MB tmpfs (needs root and a kernel that lets this container mount);
elsewhere those tests are skipped with the reason."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from .conftest import one_line_error

TRAIN = ("--model", "simple_cnn", "--epochs", "1", "--img-size", "32", "--batch-size", "8")


@pytest.fixture
def small_disk(tmp_path_factory):
    """A 1 MB filesystem of the test's own (one test filling it never starves the next): room
    for a run's small files, not for its checkpoints."""
    where = tmp_path_factory.mktemp("small") / "disk"
    where.mkdir()
    cmd = ["mount", "-t", "tmpfs", "-o", "size=1m", f"vf-{uuid.uuid4().hex[:8]}", str(where)]
    try:
        mounted = subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        mounted = False
    if not mounted:
        pytest.skip("cannot mount a 1 MB tmpfs here (needs root in a container that allows it)")
    yield where
    subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def error_line(res) -> str:
    """A failure in the middle of work: exit 2, no traceback, and one `error:` line (the
    progress printed before it may stay)."""
    text = res.err + res.out
    assert res.rc == 2 and "Traceback" not in text, res.tail()
    errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, res.tail()
    return errors[0]


def _files(root: Path) -> dict:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("extra", [(), ("--folds", "2")], ids=["single", "kfold"])
def test_full_disk_under_runs_dir(vf, ws, shapes, small_disk, extra):
    before = _files(shapes)
    runs = small_disk / f"runs-{len(extra)}"
    res = vf("train", shapes, *TRAIN, *extra, "--runs-dir", runs, cwd=ws / "faults")
    line = error_line(res)
    assert "no space left" in line and str(runs) in line, line
    top = [p for p in runs.iterdir() if p.is_dir()]
    assert f"visionfit train --resume {top[0]})" in line, line  # a fold resumes as its CV run
    assert _files(shapes) == before
    run_dirs = [p for p in runs.rglob("config.yaml")]
    assert run_dirs, "the run's own small files were written before the disk filled"
    assert not list(runs.rglob("*.tmp")), "no half-written temporary file is left behind"


def test_full_disk_under_predict_out(vf, ws, single_run, new_images, small_disk):
    full = small_disk / "full"
    full.mkdir()
    with open(full / "filler", "wb") as f:  # what the disk has left: nothing
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    out = full / "preds.csv"
    res = vf("predict", single_run, new_images / "new_images", "--out", out, cwd=ws / "faults")
    line = error_line(res)
    assert "no space left" in line and str(out) in line, line
    assert not out.exists() and not list(full.glob(".*.tmp"))


def test_masks_and_overlays_in_one_folder(vf, ws, seg_run, seg_data):
    same = ws / "faults" / "same"
    res = vf(
        "predict", seg_run, seg_data / "images", "--out", ws / "faults" / "seg.csv",
        "--masks-dir", same, "--overlays-dir", same, cwd=ws / "faults",
    )  # fmt: skip
    line = one_line_error(res)
    assert "--masks-dir" in line and "--overlays-dir" in line
    assert not same.exists() or not any(same.iterdir())


def test_set_value_that_is_not_yaml(vf, ws, shapes):
    line = one_line_error(vf("train", shapes, *TRAIN, "--set", "train.lr=[", cwd=ws / "faults"))
    assert "--set train.lr" in line and "not valid YAML" in line


def test_full_disk_under_auto(vf, ws, shapes, small_disk):
    runs = small_disk / "runs-auto"
    # a budget that never runs out first: the disk decides where auto stops, not the clock
    res = vf("auto", shapes, "--budget", "30m", "--runs-dir", runs, cwd=ws / "faults")
    line = error_line(res)
    auto_dir = next(runs.glob("auto-*"))
    assert "no space left" in line and f"visionfit auto --resume {auto_dir})" in line, line
    assert (auto_dir / "auto.json").is_file()
