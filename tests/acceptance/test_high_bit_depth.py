"""docs/formats/high-bit-depth.md: 16-bit TIFFs whose signal lives in the low 12 bits, and
5-channel TIFFs, through check, train and predict, as subprocesses on generated files.

The values are kept (no 8-bit squeeze): check counts the bit depth, train stores the intensity
mapping it computed from the training images in model.json, predict applies it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

TRAIN = ("--model", "simple_cnn", "--epochs", "1", "--img-size", "32", "--batch-size", "8")


def _shape(cls: str, rng: np.random.Generator) -> np.ndarray:
    """A 32 px 12-bit image (values 0..4095): a bright disc or square on noise."""
    img = rng.integers(0, 400, (32, 32)).astype(np.uint16)
    cy, cx = rng.integers(11, 21, 2)
    if cls == "disc":
        yy, xx = np.mgrid[:32, :32]
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < 40] += 3600
    else:
        img[cy - 6 : cy + 6, cx - 6 : cx + 6] += 3600
    return img


@pytest.fixture(scope="module")
def tiffs(data) -> tuple[Path, Path]:
    """DATA12/<class>/*.tif (one 16-bit page) and DATA5/<class>/*.tif (five pages)."""
    rng = np.random.default_rng(19)
    one, five = data / "tiff12", data / "tiff5"
    for cls in ("disc", "square"):
        (one / cls).mkdir(parents=True)
        (five / cls).mkdir(parents=True)
        for i in range(10):
            img = _shape(cls, rng)
            tifffile.imwrite(one / cls / f"{cls}_{i:02d}.tif", img)
            pages = np.stack([img // (k + 1) for k in range(5)])  # five channels
            tifffile.imwrite(five / cls / f"{cls}_{i:02d}.tif", pages)
    return one, five


@pytest.fixture(scope="module")
def hb_jobs(jobs, vf, ws, tiffs):
    one, five = tiffs
    cwd = ws / "highbit"
    jobs.submit("highbit-12", lambda: vf("train", one, *TRAIN, "--name", "b12", cwd=cwd))
    jobs.submit(
        "highbit-5",
        lambda: vf(
            "train",
            five,
            "--in-chans",
            "5",
            "--intensity",
            "minmax",
            *TRAIN,
            "--name",
            "c5",
            cwd=cwd,
        ),
    )
    return jobs


def test_check_reports_12_bit_data_in_16_bit_files(vf, ws, tiffs):
    """docs: visionfit check DATA --out check.json"""
    one, _ = tiffs
    res = vf("check", one, "--out", "check.json", cwd=ws / "highbit-check").ok()
    assert "16-bit (values in the low 12 bits)" in res.out
    report = json.loads((ws / "highbit-check" / "check.json").read_text())
    assert report["bit_depths"] == {"16-bit (values in the low 12 bits)": 20}
    assert report["channels"] == {"1": 20}


def test_12_bit_tiffs_train_and_predict_with_the_stored_mapping(hb_jobs, vf, tiffs):
    """docs: visionfit train DATA --model simple_cnn ...; visionfit predict RUN DATA/disc"""
    one, _ = tiffs
    run = hb_jobs.get("highbit-12").ok().run_dir("b12*")
    meta = json.loads((run / "model.json").read_text())
    intensity = meta["intensity"]
    assert intensity["mode"] == "percentile" and len(intensity["low"]) == 3  # gray -> 3 chans
    # the 0.5th..99.5th percentiles of 12-bit values: the contrast of the 12 bits is kept
    assert 0 <= intensity["low"][0] < 50 and 3600 < intensity["high"][0] <= 4095
    res = vf("predict", run, one / "disc", "--out", "pred.csv", cwd=run.parent).ok()
    assert "wrote 10 predictions" in res.out
    rows = (run.parent / "pred.csv").read_text().splitlines()
    assert rows[0].startswith("image,pred,prob_disc,prob_square") and len(rows) == 11


def test_5_channel_tiffs_train_with_in_chans_5(hb_jobs, vf, tiffs):
    """docs: visionfit train DATA5 --in-chans 5 --intensity minmax ..."""
    _, five = tiffs
    run = hb_jobs.get("highbit-5").ok().run_dir("c5*")
    meta = json.loads((run / "model.json").read_text())
    assert meta["in_chans"] == 5 and len(meta["mean"]) == 5
    assert meta["intensity"]["mode"] == "minmax" and len(meta["intensity"]["low"]) == 5
    # page k holds img // (k + 1): each channel gets its own range
    highs = meta["intensity"]["high"]
    assert highs[0] > highs[1] > highs[4] > 0
    res = vf("predict", run, five / "square", "--out", "pred5.csv", cwd=run.parent).ok()
    assert "wrote 10 predictions" in res.out
    # an RGB image has 3 channels, not 5: refused in the error column, not a traceback
    rgb = run.parent / "rgb.png"
    Image.new("RGB", (32, 32), (10, 200, 30)).save(rgb)
    res = vf("predict", run, rgb, "--out", "rgb.csv", cwd=run.parent)
    text = (run.parent / "rgb.csv").read_text() if (run.parent / "rgb.csv").exists() else ""
    assert res.rc == 0 and "rgb.png,,,,unsupported format" in text
    assert "Traceback" not in res.err
