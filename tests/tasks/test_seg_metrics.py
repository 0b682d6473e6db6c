"""Dice/IoU definitions and the threshold / minimum-area post-processing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionfit.tasks.segmentation.metrics import SegScores, image_stats, per_image_dice, summarise
from visionfit.tasks.segmentation.postprocess import postprocess_binary, tune_postprocess


def test_dice_definitions():
    pred = torch.zeros(3, 4, 4, dtype=torch.long)
    true = torch.zeros(3, 4, 4, dtype=torch.long)
    pred[0, :2] = 1  # 8 predicted
    true[0, :1] = 1  # 4 true, all inside: dice 2*4/12
    # image 1: both empty -> 1
    true[2, 0, 0] = 1  # image 2: missed -> 0
    scores = SegScores(2)
    scores.update(pred, true, torch.tensor([0.9, 0.1, 0.4]))
    m = scores.compute()
    assert m["dice"] == pytest.approx((2 * 4 / 12 + 1 + 0) / 3)
    assert m["iou"] == pytest.approx((4 / 8 + 1 + 0) / 3)
    assert m["dice_global"] == pytest.approx(2 * 4 / (8 + 5))
    assert m["pixel_acc"] == pytest.approx((48 - 4 - 1) / 48)
    assert m["empty_correct"] == 1.0 and m["nonempty_detected"] == 0.5
    assert m["auroc_image"] == pytest.approx(1.0)  # non-empty images have the larger max prob


def test_multiclass_per_class():
    pred = torch.tensor([[[0, 1], [2, 2]]])
    true = torch.tensor([[[0, 1], [2, 0]]])
    stats = image_stats(pred, true, 3)
    assert stats.shape == (1, 2, 3)
    m = summarise(stats, int((pred == true).sum()), 4, ["bg", "a", "b"])
    assert m["dice_a"] == 1.0 and m["dice_b"] == pytest.approx(2 / 3)
    assert m["dice"] == pytest.approx((1 + 2 / 3) / 2)
    assert "auroc_image" not in m
    assert per_image_dice(stats).shape == (1, 2)


def test_min_area_removes_small_components():
    prob = np.zeros((20, 20), np.float32)
    prob[2:10, 2:10] = 0.9  # 64 px
    prob[15, 15] = 0.9  # 1 px speck
    assert postprocess_binary(prob, 0.5, 0.0).sum() == 65
    kept = postprocess_binary(prob, 0.5, 0.01)  # 4 px minimum
    assert kept.sum() == 64 and kept[15, 15] == 0
    assert postprocess_binary(prob, 0.95, 0.0).sum() == 0


def test_tuning_finds_threshold_and_area():
    rng = np.random.default_rng(0)
    probs, targets = [], []
    for i in range(12):
        t = np.zeros((24, 24), np.uint8)
        if i % 3:
            t[4:14, 4:14] = 1
        p = np.where(t == 1, 0.3, 0.05).astype(np.float32)  # under-confident model
        p[rng.integers(0, 24), rng.integers(0, 24)] = 0.35  # isolated false-positive specks
        probs.append(p)
        targets.append(t)
    res = tune_postprocess(np.stack(probs), np.stack(targets))
    assert res.threshold <= 0.3 and res.min_area > 0
    assert res.dice == pytest.approx(1.0) and res.dice_default < 0.5
    # float16 probabilities (as collected after training) give the same choice
    res16 = tune_postprocess(np.stack(probs).astype(np.float16), np.stack(targets))
    assert (res16.threshold, res16.min_area) == (res.threshold, res.min_area)
