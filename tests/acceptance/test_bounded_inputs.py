"""Inputs that would hang, fill memory or crash a command, given to the installed CLI: a device
(/dev/zero) and a named pipe to predict, damaged weights, an alias-bomb config, a hand-edited
model.json asking for 30 GB per image. Each is an error row (exit 0) or one line (exit 2), never
a traceback, and no file of the run changes."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest

from .conftest import one_line_error, read_csv

pytestmark = pytest.mark.skipif(
    sys.platform == "win32" or not hasattr(os, "mkfifo"), reason="needs /dev/zero and named pipes"
)

ALIAS_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


def fingerprint(run: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.rglob("*"))
        if p.is_file()
    }


def copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


def test_a_device_and_a_named_pipe_get_error_rows_and_the_batch_goes_on(
    vf, single_run, new_images, tmp_path
):
    before = fingerprint(single_run)
    os.mkfifo(tmp_path / "pipe.png")  # opened for a blocking read, it would wait forever
    good = new_images / "one.png"
    res = vf(
        "predict", single_run, "/dev/zero", tmp_path / "pipe.png", good, "--out", "p.csv",
        cwd=tmp_path,
    ).ok()  # fmt: skip
    assert "Traceback" not in res.err + res.out
    rows = {Path(r["image"]).name: r for r in read_csv(tmp_path / "p.csv")}
    assert rows["zero"]["error"] == "unreadable" and rows["zero"]["pred"] == ""
    assert rows["pipe.png"]["error"] == "unreadable" and rows["pipe.png"]["pred"] == ""
    assert rows["one.png"]["error"] == "" and rows["one.png"]["pred"]
    assert fingerprint(single_run) == before


def test_a_named_pipe_as_the_list_of_images_is_one_line(vf, single_run, tmp_path):
    os.mkfifo(tmp_path / "list.csv")
    line = one_line_error(vf("predict", single_run, "list.csv", "--out", "p.csv", cwd=tmp_path))
    assert "list.csv" in line and "named pipe" in line
    assert not (tmp_path / "p.csv").exists()


def test_damaged_weights_are_one_line_naming_the_file(vf, single_run, new_images, tmp_path):
    run = copy_run(single_run, tmp_path / "run")
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    before = fingerprint(run)
    for args in (
        ("predict", run, new_images / "one.png", "--out", "p.csv"),
        ("export", run, "--format", "onnx"),
    ):
        line = one_line_error(vf(*args, cwd=tmp_path))
        assert "model.safetensors" in line and "train again" in line, line
    assert fingerprint(run) == before


def test_a_damaged_best_checkpoint_never_suggests_unpickling(vf, single_run, tmp_path):
    """A run killed after training, before its bundle, whose best.ckpt is then damaged:
    --resume finishes it from last.ckpt's weights and says so (never a traceback, never torch's
    advice to unpickle)."""
    run = copy_run(single_run, tmp_path / "run")
    for name in ("model.safetensors", "model.json", "summary.json"):
        (run / name).unlink()
    best = run / "checkpoints" / "best.ckpt"
    best.write_bytes(best.read_bytes()[:100])
    res = vf("train", "--resume", run, cwd=tmp_path)
    assert res.rc == 0 and "Traceback" not in res.err + res.out, res.tail()
    note = [ln for ln in res.err.splitlines() if "best.ckpt" in ln and "damaged" in ln]
    assert note and "last.ckpt" in note[0], res.tail()
    assert "weights_only" not in res.err + res.out
    assert (run / "model.safetensors").is_file() and (run / "summary.json").is_file()


def test_a_huge_img_size_in_model_json_is_refused_before_anything_is_allocated(
    vf, single_run, new_images, tmp_path
):
    run = copy_run(single_run, tmp_path / "run")
    meta = run / "model.json"
    meta.write_text(meta.read_text().replace('"img_size": 32', '"img_size": 100000'))
    before = fingerprint(run)
    line = one_line_error(
        vf("predict", run, new_images / "one.png", "--out", "p.csv", cwd=tmp_path)
    )
    assert "model.json" in line and "img_size" in line and "100000" in line, line
    assert fingerprint(run) == before


@pytest.mark.parametrize("where", ["top", "under_a_key"])
def test_an_alias_bomb_config_is_one_short_line(vf, shapes, tmp_path, where):
    text = ALIAS_BOMB + ("\ntrain: {lr: *i}\n" if where == "under_a_key" else "\n")
    (tmp_path / "bomb.yaml").write_text(text)
    line = one_line_error(vf("train", shapes, "--config", "bomb.yaml", cwd=tmp_path))
    assert "bomb.yaml" in line and "aliases" in line and len(line) < 300, line
    assert not (tmp_path / "runs").exists()
