"""README "Segmentation: what mask values mean": `check` states how it reads the values it found,
ambiguous masks are refused by check and train with the options, and `--ignore-index` leaves a
value out of the loss and the scores (generated 32 px masks, 2 epochs)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from visionfit.data.synthetic import make_segmentation_dataset

WIDE = {"COLUMNS": "200"}  # Rich tables unwrapped, so that a sentence is on one line
BAND = 8  # columns of every mask marked 255 ("not known"), over plain background in the image
AMBIGUOUS = (
    "mask values {0, 1, 255} are ambiguous: say --ignore-index 255 (255 = not scored) or "
    "--mask-values binary (>= 128 = foreground)"
)
IGNORED = (
    "mask value 255: ignored (--ignore-index 255): left out of the loss and the scores, "
    "never predicted"
)


@pytest.fixture(scope="module")
def band_masks(data):
    """0/1 masks with a 255 band: as binary >= 128 the band is foreground the images do not show
    (every band pixel wrong); with --ignore-index 255 it is not scored."""
    root = make_segmentation_dataset(data / "seg-band", 40, size=32, seed=2, mask_values="0/1")
    for p in sorted((root / "masks").glob("*.png")):
        m = np.asarray(Image.open(p)).copy()
        m[:, :BAND] = 255
        Image.fromarray(m).save(p)
    return root


def test_check_states_binary_0_255(vf, ws, data):
    """README: visionfit check DATA --task segment   (mask values {0, 255}: binary, 255 = ...)"""
    root = make_segmentation_dataset(data / "seg-0-255", 12, size=32, seed=1)
    res = vf(
        "check", root, "--task", "segment", "--out", "check.json", cwd=ws / "maskconv", env=WIDE
    )
    res.ok()
    line = "mask values {0, 255}: binary, 255 = foreground"
    assert line in res.out, res.tail()
    section = json.loads((ws / "maskconv" / "check.json").read_text())["sections"]["segmentation"]
    assert section["mask_values"] == [line] and section["mask_problem"] == ""


def test_ambiguous_masks_are_refused_by_check_and_train(vf, ws, band_masks, h):
    """README: {0, 1, 255} masks are refused with the two options"""
    cwd = ws / "maskconv-ambiguous"
    res = vf("check", band_masks, "--task", "segment", "--out", "check.json", cwd=cwd, env=WIDE)
    assert res.rc == 1, res.tail()
    assert f"data not usable: {AMBIGUOUS}" in res.out + res.err
    report = json.loads((cwd / "check.json").read_text())
    assert report["usable"] is False and report["problems"] == [AMBIGUOUS]
    assert report["sections"]["segmentation"]["mask_problem"] == AMBIGUOUS
    res = vf("train", band_masks, "--task", "segment", *h.SEG_TINY, cwd=cwd, env=WIDE)
    assert h.one_line_error(res) == f"error: {AMBIGUOUS}"
    assert not (cwd / "runs").exists()  # refused before a run directory is made


def test_ignore_index_leaves_the_band_out_of_training_and_scores(vf, ws, band_masks, h):
    """README: visionfit train DATA --task segment --ignore-index 255"""
    cwd = ws / "maskconv-ignore"
    res = vf("check", band_masks, "--task", "segment", "--ignore-index", "255", cwd=cwd, env=WIDE)
    res.ok()
    assert "mask values {0, 1}: binary, 1 = foreground" in res.out and IGNORED in res.out
    args = ("--img-size", "32", "--epochs", "2", "--batch-size", "4", "--width", "8")
    res = vf("train", band_masks, "--task", "segment", "--ignore-index", "255", *args,
             "--lr", "0.01", cwd=cwd, env=WIDE)  # fmt: skip
    res.ok()
    # said when training starts, before anything else, as check says it
    lines = res.err.splitlines()
    assert lines[:2] == ["mask values {0, 1}: binary, 1 = foreground", IGNORED], res.tail()
    run = res.run_dir()
    assert json.loads((run / "model.json").read_text())["mask_spec"]["ignore_value"] == 255
    # the scores leave the band out: every image's true pixels are its 1s outside the band,
    # and its dice is that of the written prediction outside the band
    scores = h.read_csv(run / "val_scores.csv")
    assert len(scores) == 8  # 20 % of 40
    for row in scores:
        truth = np.asarray(Image.open(band_masks / "masks" / f"{row['id']}.png"))
        pred = np.asarray(Image.open(cwd / row["mask_file"]))  # relative to where it ran
        assert set(np.unique(pred)) <= {0, 1}  # 255 is the ignore value: never predicted
        t, p = truth[:, BAND:] == 1, pred[:, BAND:] == 1
        assert int(row["true_pixels"]) == int(t.sum())
        assert int(row["pred_pixels"]) == int(p.sum())
        expect = 2 * (t & p).sum() / max(t.sum() + p.sum(), 1)
        assert float(row["dice"]) == pytest.approx(expect, abs=1e-6)
    # evaluate reads the ignore value from the run (config.yaml): the band is not scored there
    vf("evaluate", run, band_masks, "--out", "eval", cwd=cwd, env=WIDE).ok()
    rows = h.read_csv(cwd / "eval" / "predictions.csv")
    assert len(rows) == 40
    for row in rows:
        truth = np.asarray(Image.open(band_masks / "masks" / f"{row['id']}.png"))
        assert int(row["true_pixels"]) == int((truth[:, BAND:] == 1).sum())
    # read as binary >= 128 the band (a quarter of every image) would be foreground that no
    # image shows; left out, the shapes themselves are learnt and scored
    summary = json.loads((run / "summary.json").read_text())
    assert summary["val_final"]["dice"] > 0.75, summary["val_final"]


def test_mask_values_binary_reads_the_band_as_foreground(vf, ws, band_masks):
    """README: visionfit check DATA --task segment --mask-values binary"""
    res = vf("check", band_masks, "--task", "segment", "--mask-values", "binary",
             cwd=ws / "maskconv-binary", env=WIDE)  # fmt: skip
    res.ok()
    assert "mask values {0, 1, 255}: binary, >= 128 = foreground" in res.out, res.tail()
