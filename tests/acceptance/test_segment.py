"""README "Segmentation": every shell example as a subprocess, on generated images and masks
(32 px, 1 epoch; the README's sizes are scaled down, its options kept)."""

from __future__ import annotations

import json
import shutil

import pytest

from visionfit.data.synthetic import make_segmentation_dataset

ONE = ("--epochs", "1", "--batch-size", "8")


@pytest.fixture(scope="module")
def seg_jobs(jobs, vf, ws, data, h):
    """Generate each layout and queue its training command (two at a time, beside the tests)."""
    cwd = ws / "segment"
    T = h.SEG_TINY
    suffix = make_segmentation_dataset(
        data / "seg-suffix", 16, size=32, seed=1, mask_suffix="_mask"
    )
    five = make_segmentation_dataset(data / "seg-five", 16, size=32, seed=2, n_classes=5)
    colour = h.rgb_colour_masks(
        make_segmentation_dataset(data / "seg-colour", 16, size=32, seed=3, n_classes=3)
    )
    make_segmentation_dataset(data / "seg-rle", 16, size=32, seed=4, layout="rle")
    siim = make_segmentation_dataset(
        data / "seg-siim", 16, size=32, seed=5, layout="rle", rle_format="siim", empty_prob=0.3
    )
    shutil.move(siim, siim.with_name("train-rle.csv"))
    siim = siim.with_name("train-rle.csv")
    seg = data / "seg"

    def job(key, *args, where=None):
        jobs.submit(key, lambda: vf(*args, cwd=cwd / (where or key)))

    job("suffix", "train", suffix, "--task", "segment", "--mask-suffix", "_mask", *T)
    job("five", "train", five, "--task", "segment", "--num-classes", "5", *T)
    job("colour", "train", colour, "--task", "segment", "--colour-map",
        "0,0,0=0;255,0,0=1;0,255,0=2", *T)  # fmt: skip
    job("kaggle", "train", "train.csv", "--task", "segment", "--root", "images/", "--id-col",
        "ImageId", "--rle-col", "EncodedPixels", *T, where="../data/seg-rle")  # fmt: skip
    job("siim", "train", siim.name, "--task", "segment", "--rle-format", "siim", "--in-chans",
        "1", *T, where="../data/seg-siim")  # fmt: skip
    job("unetplusplus", "train", seg, "--task", "segment", "--arch", "unetplusplus",
        "--encoder", "resnet34", "--img-size", "32", *ONE)  # fmt: skip
    job("fpn", "train", seg, "--task", "segment", "--arch", "fpn", "--encoder",
        "tu-efficientnet_lite0", "--encoder-weights", "imagenet", "--img-size", "32",
        *ONE)  # fmt: skip
    job("original", "train", seg, "--task", "segment", "--arch", "unet_original", "--img-size",
        "188", "--width", "4", *ONE)  # fmt: skip
    job("folds", "train", seg, "--task", "segment", "--folds", "2", *T)
    # keys are session-wide (the pool is shared): "demo" is the classification demo
    job("seg-demo", "demo", "--task", "segment", "--epochs", "1")
    return jobs


def _run(seg_jobs, key, h):
    run = seg_jobs.get(key).ok().run_dir()
    h.assert_run_dir(run, ("config.yaml", "metrics.csv", "model.safetensors", "model.json",
                           "summary.json", "report.html", "val_scores.csv"))  # fmt: skip
    assert (run / "val_predictions" / "predictions.csv").is_file()
    return run


def test_segment_image_and_mask_folders(seg_run, h):
    """README: visionfit train DATA --task segment   (DATA/images/* + DATA/masks/*)"""
    h.assert_run_dir(seg_run)
    assert len(h.read_csv(seg_run / "val_scores.csv")) == 4  # 20 % of 20 images
    assert len(list((seg_run / "val_predictions" / "masks").glob("*.png"))) == 4
    summary = json.loads((seg_run / "summary.json").read_text())
    assert "val_final" in summary, summary


def test_segment_mask_suffix(seg_jobs, h):
    """README: visionfit train DATA --task segment --mask-suffix _mask"""
    _run(seg_jobs, "suffix", h)


def test_segment_class_index_masks(seg_jobs, h):
    """README: visionfit train DATA --task segment --num-classes 5"""
    run = _run(seg_jobs, "five", h)
    assert "dice" in (run / "metrics.csv").read_text()


def test_segment_rgb_colour_map(seg_jobs, h):
    """README: visionfit train DATA --task segment --colour-map '0,0,0=0;255,0,0=1;0,255,0=2'"""
    _run(seg_jobs, "colour", h)


def test_segment_kaggle_rle_csv(seg_jobs, h):
    """README: visionfit train train.csv --task segment --root images/ --id-col ImageId
    --rle-col EncodedPixels"""
    run = _run(seg_jobs, "kaggle", h)
    rows = h.read_csv(run / "val_predictions" / "predictions.csv")
    assert list(rows[0])[:2] == ["ImageId", "EncodedPixels"]


def test_segment_siim_rle_grayscale(seg_jobs, h):
    """README: visionfit train train-rle.csv --task segment --rle-format siim --in-chans 1"""
    _run(seg_jobs, "siim", h)


def test_segment_unetplusplus_resnet34(seg_jobs, h):
    """README: visionfit train DATA --task segment --arch unetplusplus --encoder resnet34
    --img-size 256"""
    _run(seg_jobs, "unetplusplus", h)


def test_segment_fpn_timm_encoder_imagenet_offline(seg_jobs, h):
    """README: visionfit train DATA --task segment --arch fpn --encoder tu-efficientnet_lite0
    --encoder-weights imagenet  (the weights come from the efficientnet-lite0 package)"""
    _run(seg_jobs, "fpn", h)


def test_segment_unet_original(seg_jobs, h):
    """README: visionfit train DATA --task segment --arch unet_original --img-size 572
    --width 64  (188 is the smallest valid side, 16k + 124)"""
    _run(seg_jobs, "original", h)


def test_segment_check(vf, ws, seg_data):
    """README: visionfit check DATA --task segment"""
    res = vf("check", seg_data, "--task", "segment", cwd=ws / "seg-check").ok()
    assert "mask" in res.out.lower()


def test_segment_predict_masks_and_overlays(vf, ws, seg_run, seg_data, h):
    """README: visionfit predict RUN images/ --out pred.csv --masks-dir masks/
    [--overlays-dir overlays/] [--tta]"""
    cwd = ws / "seg-predict"
    shutil.copytree(seg_data / "images", cwd / "images")
    vf("predict", seg_run, "images/", "--out", "pred.csv", "--masks-dir", "masks/",
       "--overlays-dir", "overlays/", "--tta", cwd=cwd).ok()  # fmt: skip
    assert len(h.read_csv(cwd / "pred.csv")) == 20
    assert len(list((cwd / "masks").glob("*.png"))) == 20
    assert len(list((cwd / "overlays").glob("*"))) == 20


def test_segment_folds(seg_jobs, h):
    """README: visionfit train DATA --task segment --folds 5   (2 folds here)"""
    res = seg_jobs.get("folds").ok()
    run = res.run_dir()
    for name in ("folds.csv", "oof_scores.csv", "cv_summary.csv", "model.json"):
        assert (run / name).is_file(), name
    assert (run / "fold_0" / "val_scores.csv").is_file() and (run / "fold_1").is_dir()
    assert json.loads((run / "model.json").read_text())["kind"] == "cv"


def test_segment_demo(seg_jobs):
    """README: visionfit demo --task segment"""
    res = seg_jobs.get("seg-demo").ok()
    assert "dice" in res.out.lower()
