"""A folder of real PNGs and JPEGs with byte-level damage: `visionfit check` lists every unusable
file, and `visionfit train` on the same folder finishes, leaving out (and listing) the same files.

Runs the installed command as a subprocess on generated files; nothing of visionfit is faked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))  # the shared damage helper
from damage import flip_idat, save_image, truncate, zero_range  # noqa: E402

DAMAGE = {
    "train_00167_flip.png": flip_idat,  # the reported case: broken IDAT stream, CRC intact
    "b_flip.png": flip_idat,
    "a_trunc.png": truncate,
    "b_trunc.jpg": truncate,
    "a_zero.png": zero_range,
}


def _dataset(root: Path) -> list[Path]:
    """20 good files, the damaged ones of DAMAGE, and one JPEG garbled deep in its scan data,
    which the decoder accepts (pixels, wrong ones): check and train must treat it alike too."""
    damaged, k = [], 0
    zero_range(save_image(root / "b" / "b_garbled.jpg", 99), start=0.6, n=64)
    for cls in ("a", "b"):
        for i in range(10):
            save_image(root / cls / f"{cls}_{i:02d}.{'png' if i % 2 else 'jpg'}", k)
            k += 1
    for name, damage in DAMAGE.items():
        cls = "b" if name.startswith("b_") else "a"
        damaged.append(damage(save_image(root / cls / name, k)))
        k += 1
    return damaged


def _command() -> str:
    """The installed `visionfit` beside this Python (a virtual environment), else on PATH."""
    beside = Path(sys.executable).with_name("visionfit")
    return str(beside) if beside.is_file() else (shutil.which("visionfit") or "visionfit")


def _visionfit(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "VISIONFIT_CACHE": str(cwd / "cache"), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [_command(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_train_on_damaged_images_finishes_and_agrees_with_check(tmp_path):
    data = tmp_path / "data"
    damaged = {str(p) for p in _dataset(data)}
    for p in damaged:
        os.chmod(p, 0o444)  # read-only, as in the report: the files do not change

    check = _visionfit("check", str(data), "--out", str(tmp_path / "check.json"), cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads((tmp_path / "check.json").read_text())
    unusable = {row["image"] for row in report["bad_files"]}
    assert unusable == damaged  # every damaged file, the flipped-IDAT PNGs included

    runs = tmp_path / "R"
    args = ["--model", "simple_cnn", "--epochs", "1", "--img-size", "32", "--runs-dir", str(runs)]
    train = _visionfit("train", str(data), *args, cwd=tmp_path)
    assert train.returncode == 0, train.stdout + train.stderr
    (run_dir,) = runs.iterdir()
    assert (run_dir / "model.safetensors").is_file() and (run_dir / "model.json").is_file()
    skipped = pd.read_csv(run_dir / "skipped.csv", dtype=str, keep_default_na=False)
    assert set(skipped["image"]) == unusable  # check and train agree
    assert (skipped["reason"] != "").all()
    assert not skipped["detail"].str.contains("changed after").any()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["skipped_files"] == len(unusable)
    splits = pd.read_csv(run_dir / "splits.csv", dtype=str, keep_default_na=False)
    assert not set(splits["image"]) & unusable
