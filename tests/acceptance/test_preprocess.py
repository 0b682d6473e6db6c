"""README "Train on your data": preprocessing (`--resize`, `--crop-pct`, `--interpolation`,
`--mean/--std`) on non-square images, as subprocesses: what the run stores and what predict
applies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from visionfit.data.synthetic import make_segmentation_dataset, make_shapes_dataset


def _non_square(src: Path, dst: Path) -> Path:
    """The generated images, each stretched to a landscape or a portrait shape."""
    for i, p in enumerate(sorted(src.glob("*/*.png"))):
        out = dst / p.parent.name / p.name
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.open(p).convert("RGB").resize((52, 34) if i % 2 else (30, 46)).save(out)
    return dst


@pytest.fixture(scope="module")
def photos(data) -> Path:
    two = ("circle", "square")
    src = make_shapes_dataset(data / "preproc-src", n_per_class=8, classes=two, seed=11)
    return _non_square(src, data / "preproc")


@pytest.fixture(scope="module")
def pre_jobs(jobs, vf, ws, photos, resnet18_weights):
    cwd = ws / "preproc"
    small = ("--img-size", "32", "--epochs", "1", "--batch-size", "4")
    jobs.submit(
        "preproc-crop",
        lambda: vf("train", photos, "--model", "resnet18", "--weights", resnet18_weights,
                   "--resize", "crop", "--interpolation", "bicubic", "--mean", "imagenet",
                   *small, "--name", "crop", cwd=cwd),
    )  # fmt: skip
    jobs.submit(
        "preproc-scratch",
        lambda: (
            vf("train", photos, "--model", "simple_cnn", *small, "--name", "scratch", cwd=cwd),
            vf("train", photos, "--model", "simple_cnn", *small, "--resize", "pad",
               "--mean", "none", "--std", "none", "--crop-pct", "0.9", "--name", "pad", cwd=cwd),
        ),
    )  # fmt: skip
    return jobs


def _stored(run: Path) -> dict:
    meta = json.loads((run / "model.json").read_text())
    keys = ("img_size", "resize", "crop_pct", "interpolation", "mean", "std")
    return {k: meta[k] for k in keys}


def test_crop_bicubic_imagenet_is_stored_and_predict_uses_it(pre_jobs, vf, ws, photos, h):
    """README: visionfit train DATA --model resnet18 --weights resnet18.safetensors --resize crop
    --interpolation bicubic --mean imagenet"""
    res = pre_jobs.get("preproc-crop").ok()
    run = res.run_dir("crop*")
    assert _stored(run) == {
        "img_size": 32,
        "resize": "crop",
        "crop_pct": 0.95,  # resnet18's pretrained_cfg (timm), not the 0.875 fallback
        "interpolation": "bicubic",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],  # --std auto: the model's own
    }
    assert "decoded cache: none (--resize crop" in res.err + res.out
    config = (run / "config.yaml").read_text()
    assert "resize: crop" in config and "interpolation: bicubic" in config
    images = sorted(photos.glob("*/*.png"))[:3]
    pred = vf("predict", run, *images, "--out", "preds.csv", cwd=ws / "preproc").ok()
    rows = h.read_csv(ws / "preproc" / "preds.csv")
    assert len(rows) == 3, pred.tail()
    for r in rows:
        assert float(r["prob_circle"]) + float(r["prob_square"]) == pytest.approx(1, abs=1e-4)
    export = vf("export", run, "--format", "onnx", cwd=ws / "preproc").ok()
    info = json.loads((run / "export" / "onnx" / "export.json").read_text())
    assert info["resize"] == "crop" and info["interpolation"] == "bicubic", export.tail()
    assert "shorter side to floor(32 / 0.95) = 33" in info["preprocess"]


def test_from_scratch_keeps_squash_and_pad_none_stats_are_stored(pre_jobs):
    scratch, pad = pre_jobs.get("preproc-scratch")
    assert _stored(scratch.ok().run_dir("scratch*")) == {
        "img_size": 32,
        "resize": "squash",  # auto for a from-scratch net: as every run before
        "crop_pct": 0.875,
        "interpolation": "area",
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
    }
    assert _stored(pad.ok().run_dir("pad*")) == {
        "img_size": 32,
        "resize": "pad",
        "crop_pct": 0.9,
        "interpolation": "area",
        "mean": [0.0] * 3,
        "std": [1.0] * 3,
    }


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--mean", "0.1,0.2"), "2 numbers for 3 input channel(s)"),
        (("--crop-scale", "2,3"), "0 < MIN <= MAX <= 1"),
        (("--std", "0,1,1"), "above 0"),
        (("--interpolation", "cubic"), "interpolation"),
    ],
)
def test_bad_preprocessing_options_are_one_line(vf, ws, photos, h, args, says):
    res = vf("train", photos, *h.TINY, *args, cwd=ws / "preproc-bad")
    assert says in h.one_line_error(res)


def test_segmentation_refuses_crop(vf, ws, data, h):
    seg = make_segmentation_dataset(data / "preproc-seg", 6, size=32, seed=2)
    res = vf("train", seg, "--task", "segment", *h.SEG_TINY, "--resize", "crop", cwd=ws / "pseg")
    assert "--resize crop" in h.one_line_error(res)
