"""docs/formats/voc-rle.md: every shell example as a subprocess, on a generated 3-class set written
as Pascal VOC folders and as a multi-class RLE CSV (Severstal's layout); 32 px, 1 epoch."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from visionfit.data.masks import voc_palette
from visionfit.data.synthetic_voc import make_multiclass_rle_dataset, make_voc_dataset


@pytest.fixture(scope="module")
def vr(jobs, vf, data, h):
    """Both layouts generated, both trainings queued (two at a time, beside the tests)."""
    voc = data / "voc-rle" / "voc"
    make_voc_dataset(voc / "VOCdevkit" / "VOC2012", 24, size=32, seed=11)
    sev = make_multiclass_rle_dataset(data / "voc-rle" / "severstal", 24, size=32, seed=12)
    jobs.submit(
        "voc-train", lambda: vf("train", "VOCdevkit", "--format", "voc", *h.SEG_TINY, cwd=voc)
    )
    jobs.submit(
        "rle-train",
        lambda: vf(
            "train",
            "train.csv",
            "--root",
            "images",
            "--class-col",
            "ClassId",
            *h.SEG_TINY,
            cwd=sev.parent,
        ),  # fmt: skip
    )
    return voc, sev.parent


def test_voc_check(vr, vf):
    """docs: visionfit check VOCdevkit"""
    voc, _ = vr
    out = vf("check", "VOCdevkit", cwd=voc).ok().out
    assert "voc" in out and "train: 18, val: 6" in out
    assert "mask value 255: ignored" in out and "background, class_1, class_2" in out


def test_voc_train_and_predict_palette_pngs(vr, vf, jobs):
    """docs: visionfit train VOCdevkit --format voc ...;
    visionfit predict RUN VOCdevkit/VOC2012/JPEGImages --format voc --out pred_voc"""
    voc, _ = vr
    run = jobs.get("voc-train").ok().run_dir()
    images = voc / "VOCdevkit" / "VOC2012" / "JPEGImages"
    res = vf("predict", run, images, "--format", "voc", "--out", "pred_voc", cwd=voc).ok()
    assert "wrote 24 palette PNGs (VOC) to pred_voc" in res.out
    pngs = sorted((voc / "pred_voc").glob("*.png"))
    assert [p.stem for p in pngs] == sorted(p.stem for p in images.glob("*.jpg"))
    for p in pngs:
        with Image.open(p) as img:
            assert img.mode == "P" and img.size == (32, 32)
            assert img.getpalette()[:9] == voc_palette()[:9]
            assert set(np.unique(np.asarray(img))) <= {0, 1, 2}
    assert not (voc / "pred_voc.csv").exists()


def test_rle_check_multiclass_and_findings(vr, vf):
    """docs: visionfit check train.csv --root images; visionfit check bad.csv --root images"""
    _, sev = vr
    out = vf("check", "train.csv", "--root", "images", cwd=sev).ok().out
    assert "class indices from ClassId, 3 classes" in out and "higher ClassId wins" in out
    rows = list(csv.reader(open(sev / "train.csv")))
    name = rows[1][0]
    bad = rows + [[name, "x", "1 2"], [name, "7", "1 2"], [name, rows[1][1], "1 2"]]
    bad.append([name, "2", "1000 50"])
    with open(sev / "bad.csv", "w", newline="") as f:
        csv.writer(f).writerows(bad)
    res = vf("check", "bad.csv", "--root", "images", "--num-classes", "3", cwd=sev)
    text = res.out + res.err
    assert res.rc != 0, text
    assert "class id 'x' is not an integer" in text and "class id 7 is out of range" in text
    assert "two rows of" in text and "runs past the last pixel" in text


def test_rle_train_and_predict_back(vr, vf, jobs):
    """docs: visionfit train train.csv --root images --class-col ClassId ...;
    visionfit predict RUN images --format rle --out preds.csv;
    visionfit check preds.csv --root images"""
    _, sev = vr
    res = jobs.get("rle-train").ok()
    assert "RLE masks: class indices from ClassId, 3 classes" in res.out + res.err
    run = res.run_dir()
    vf("predict", run, "images", "--format", "rle", "--out", "preds.csv", cwd=sev).ok()
    rows = list(csv.DictReader(open(sev / "preds.csv")))
    assert list(rows[0]) == ["ImageId", "ClassId", "EncodedPixels"]
    assert {r["ImageId"] for r in rows} == {p.name for p in (sev / "images").glob("*.jpg")}
    assert all(int(r["ClassId"]) in (0, 1, 2) for r in rows)
    assert all((r["ClassId"] == "0") == (r["EncodedPixels"] == "") for r in rows)
    out = vf("check", "preds.csv", "--root", "images", cwd=sev).ok().out
    assert "image/mask pairs" in out and "24" in out
