"""--ignore-index: ignored pixels change neither the loss, nor dice / IoU / pixel accuracy, nor
the tuned post-processing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionfit.data.masks import IGNORE
from visionfit.tasks.segmentation.metrics import SegScores, image_stats, scored_pixels
from visionfit.tasks.segmentation.module import BINARY_LOSSES, MULTICLASS_LOSSES, create_loss
from visionfit.tasks.segmentation.postprocess import tune_postprocess


def _target(k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (2, 8, 8), generator=g)
    ignored = torch.zeros_like(y, dtype=torch.bool)
    ignored[:, :3] = True
    return torch.where(ignored, IGNORE, y), ignored


@pytest.mark.parametrize(
    ("name", "k"), [(n, 2) for n in BINARY_LOSSES] + [(n, 3) for n in MULTICLASS_LOSSES]
)
def test_ignored_pixels_do_not_change_the_loss(name, k):
    y, ignored = _target(k)
    outputs = 1 if k == 2 else k
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, outputs, 8, 8, generator=g)
    other = logits.clone()
    other[ignored.unsqueeze(1).expand_as(other)] = 50.0  # wildly wrong where nothing is scored
    fn = create_loss(name, k, IGNORE)
    target = y.unsqueeze(1) if k == 2 else y
    a, b = fn(logits, target), fn(other, target)
    assert torch.isfinite(a) and float(a) == pytest.approx(float(b), rel=1e-5, abs=1e-6)
    # and no gradient reaches the ignored pixels
    logits.requires_grad_(True)
    fn(logits, target).backward()
    assert float(logits.grad[ignored.unsqueeze(1).expand_as(logits)].abs().max()) == 0.0


def test_ignored_pixels_are_not_scored():
    truth = torch.tensor([[[0, 1, 1, IGNORE], [0, 0, IGNORE, IGNORE]]])
    pred = torch.tensor([[[0, 1, 1, 1], [0, 0, 1, 0]]])  # right wherever it is scored
    stats = image_stats(pred, truth, 2, IGNORE)
    assert stats.tolist() == [[[2, 2, 2]]]  # |P&T|, |P|, |T|: the ignored 1s are not in P
    assert scored_pixels(pred, truth, IGNORE) == (5, 5)
    scores = SegScores(2, ["background", "foreground"], IGNORE)
    scores.update(pred, truth)
    out = scores.compute()
    assert out["dice"] == 1.0 and out["iou"] == 1.0 and out["pixel_acc"] == 1.0
    # without the ignore value the same pixels count as wrong
    plain = SegScores(2)
    plain.update(pred, torch.where(truth == IGNORE, 0, truth))
    assert plain.compute()["dice"] < 1.0
    assert scored_pixels(pred.numpy(), truth.numpy(), IGNORE) == (5, 5)


def test_tuned_postprocess_ignores_the_ignored_pixels():
    truth = np.zeros((2, 16, 16), np.uint8)
    truth[:, 4:8, 4:8] = 1
    probs = truth.astype(np.float32) * 0.9
    with_ignore = truth.copy()
    with_ignore[:, 10:, :] = IGNORE
    noisy = probs.copy()
    noisy[:, 10:, :] = 0.99  # confident foreground where nothing is scored
    assert tune_postprocess(noisy, with_ignore).dice == pytest.approx(1.0)
    assert tune_postprocess(noisy, truth).dice < 1.0
