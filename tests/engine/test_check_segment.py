"""`visionfit check --task segment` is the same check as for classification (the cached scan,
bad files with reasons, duplicates, leakage, --out, exit codes) plus its mask section."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from visionfit.data.synthetic import make_segmentation_dataset


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def seg_data(tmp_path):
    return make_segmentation_dataset(tmp_path / "data", 12, size=32, seed=4, empty_prob=0.25)


def test_check_segment_writes_the_report_and_exits_0(seg_data, tmp_path, run_cli):
    # one duplicate image (same bytes under another name, with its own mask) and a broken file
    images, masks = seg_data / "images", seg_data / "masks"
    shutil.copy(images / "img_0000.png", images / "copy_0000.png")
    shutil.copy(masks / "img_0000.png", masks / "copy_0000.png")
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(masks / "broken.png")
    out = tmp_path / "report.json"
    code, stdout, err = run_cli(["check", seg_data, "--out", out])
    assert code == 0, err
    report = json.loads(out.read_text())
    assert report["usable"] is True
    assert report["counts"]["duplicate_groups"] == 1
    bad = {b["image"].rsplit("/", 1)[-1]: b["reason"] for b in report["bad_files"]}
    assert list(bad) == ["broken.png"] and bad["broken.png"] in ("truncated", "unreadable")
    section = report["sections"]["segmentation"]
    assert section["n_images"] == 13
    assert section["mask_values"] == ["mask values {0, 255}: binary, 255 = foreground"]
    assert "segmentation data" in stdout and "data usable" in stdout
    # a second check decodes nothing again (the scan cache), and never overwrites --out
    code, _, err = run_cli(["check", seg_data, "--out", tmp_path / "again.json"])
    assert code == 0 and json.loads((tmp_path / "again.json").read_text())["scan"]["decoded"] == 0
    code, _, err = run_cli(["check", seg_data, "--out", out])
    assert code == 2 and "exists" in err


def test_check_segment_exits_1_when_a_mask_does_not_fit_its_image(seg_data, run_cli):
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(seg_data / "masks" / "img_0003.png")
    code, stdout, err = run_cli(["check", seg_data, "--task", "segment"])
    assert code == 1
    assert "differ in size from their image" in err
    assert "size mismatch" in stdout
