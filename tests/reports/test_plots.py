"""Every plot writes a real PNG for the runs it applies to, and declines (None) the others."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from PIL import Image

from visionfit.models.simple import SimpleCNN
from visionfit.plots.sections import ReportContext
from visionfit.reports._run import RunView, load_predictor
from visionfit.reports.augment import plot_augment
from visionfit.reports.curves import plot_curves
from visionfit.reports.folds import plot_folds
from visionfit.tasks.classification.gradcam import find_target_layer, plot_gradcam
from visionfit.tasks.classification.plots import (
    most_confused,
    plot_confusion,
    plot_mistakes,
    plot_roc_pr,
    plot_samples,
    top_losses,
)
from visionfit.tasks.classification.reliability import plot_calibration
from visionfit.tasks.segmentation.plots import (
    plot_dice_hist,
    plot_postprocess,
    plot_seg_best_worst,
)

CLASSIFY = {"multiclass", "binary", "cv", "baseline"}
TRAINED = {"multiclass", "binary", "cv", "segment", "segment_cv"}
APPLIES = {
    plot_curves: TRAINED,
    plot_confusion: CLASSIFY,
    plot_roc_pr: CLASSIFY,
    plot_calibration: CLASSIFY,  # top-1 reliability: binary and multi-class
    plot_mistakes: CLASSIFY,
    plot_samples: CLASSIFY,
    plot_augment: TRAINED,
    plot_gradcam: {"multiclass", "binary", "cv"},  # a baseline has no network
    plot_seg_best_worst: {"segment", "segment_cv"},
    plot_dice_hist: {"segment", "segment_cv"},
    plot_folds: {"cv", "baseline", "segment_cv"},
    plot_postprocess: {"segment"},  # the tuning grid (postprocess.csv) of a binary single run
}
KINDS = ("multiclass", "binary", "cv", "baseline", "segment", "segment_cv")


def assert_png(path, min_w=200, min_h=120):
    assert path.is_file() and path.stat().st_size > 1000, path
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.width >= min_w and im.height >= min_h, im.size
        pixels = np.asarray(im.convert("L"), dtype=np.float32)
    assert pixels.std() > 5  # something is drawn, not a blank canvas


# A task's plots are only asked for its own task's runs (its report_sections); the common
# plots for every run.
SEGMENT_PLOTS = {plot_seg_best_worst, plot_dice_hist, plot_postprocess}
COMMON_PLOTS = {plot_curves, plot_augment, plot_folds}
SEGMENT_KINDS = {"segment", "segment_cv"}


def context(run_dir, out_dir) -> ReportContext:
    run = RunView.open(run_dir)
    return ReportContext(
        run, out_dir, out_dir, False, load_predictor=lambda: load_predictor(run_dir)
    )


def _asked(plot, kind) -> bool:
    if plot in COMMON_PLOTS:
        return True
    return (plot in SEGMENT_PLOTS) == (kind in SEGMENT_KINDS)


# only the (plot, run kind) pairs a report asks for: another task's plot is never called
_PAIRS = [(plot, kind) for plot in APPLIES for kind in KINDS if _asked(plot, kind)]


@pytest.mark.parametrize("plot, kind", _PAIRS, ids=[f"{p.__name__}-{k}" for p, k in _PAIRS])
def test_plot_writes_png_where_it_applies(plot, kind, tiny_run, tmp_path):
    if plot in COMMON_PLOTS:
        out = plot(RunView.open(tiny_run(kind)), tmp_path)
    else:
        out = plot(context(tiny_run(kind), tmp_path))
    if kind in APPLIES[plot]:
        assert out is not None and out.parent == tmp_path
        assert_png(out)
    else:
        assert out is None
        assert not list(tmp_path.glob("*.png"))


def _table():
    return pd.DataFrame(
        {
            "image": ["a", "b", "c", "d", "e"],
            "label": ["cat", "cat", "dog", "dog", "bird"],
            "pred": ["dog", "cat", "cat", "dog", "dog"],
            "prob_cat": [0.1, 0.8, 0.7, 0.2, 0.1],
            "prob_dog": [0.8, 0.1, 0.2, 0.7, 0.6],
            "prob_bird": [0.1, 0.1, 0.1, 0.1, 0.3],
        }
    )


def test_most_confused_counts_and_orders_the_mistakes():
    pairs = most_confused(_table(), ["cat", "dog", "bird"])
    assert pairs == [("bird", "dog", 1), ("cat", "dog", 1), ("dog", "cat", 1)]


def test_top_losses_puts_the_most_confident_mistake_first():
    worst = top_losses(_table(), ["cat", "dog", "bird"], n=2)
    assert list(worst["image"]) == ["a", "c"]  # P(true) 0.1 then 0.2
    assert worst["loss"].iloc[0] == pytest.approx(-np.log(0.1))


def test_gradcam_target_is_the_last_spatial_feature_map():
    resnet = timm.create_model("resnet18", pretrained=False, num_classes=3).eval()
    assert find_target_layer(resnet, torch.zeros(1, 3, 64, 64)) is resnet.layer4
    cnn = SimpleCNN(num_classes=3).eval()
    assert find_target_layer(cnn, torch.zeros(1, 3, 32, 32)) is cnn.features


def test_postprocess_curves_from_the_tuning_grid(tiny_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_run("segment"), run_dir)
    t, a = np.meshgrid(np.arange(0.1, 0.951, 0.05), [0.0, 0.0005, 0.001, 0.005, 0.01, 0.05])
    dice = 0.9 - (t - 0.4) ** 2 - 2 * a
    pd.DataFrame({"threshold": t.ravel(), "min_area": a.ravel(), "dice": dice.ravel()}).to_csv(
        run_dir / "postprocess.csv", index=False
    )
    out = plot_postprocess(context(run_dir, tmp_path / "plots"))
    assert_png(out)
