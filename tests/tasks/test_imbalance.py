"""Loss weights from class frequencies and the class-balanced sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionfit.errors import DataError
from visionfit.tasks.classification.imbalance import balanced_sampler, loss_weight


def test_loss_weights():
    y = np.array([0] * 80 + [1] * 20)
    assert loss_weight("binary", y, 2, "none") is None
    assert loss_weight("binary", y, 2, "auto").tolist() == [4.0]  # pos_weight = 80 / 20
    w = loss_weight("multiclass", np.array([0] * 60 + [1] * 30 + [2] * 10), 3, "auto")
    torch.testing.assert_close(w, torch.tensor([100 / 180, 100 / 90, 100 / 30]))
    ml = np.array([[1, 0], [0, 0], [0, 1], [0, 0]], np.float32)
    assert loss_weight("multilabel", ml, 2, "auto").tolist() == [3.0, 3.0]


def test_balanced_sampler_draws_classes_equally():
    y = np.array([0] * 900 + [1] * 100)
    draws = np.asarray([i for _, i in balanced_sampler("binary", y, seed=0)])
    assert len(draws) == 1000
    share = (y[draws] == 1).mean()
    assert 0.44 < share < 0.56, share
    with pytest.raises(DataError, match="--sampler balanced needs one class per image"):
        balanced_sampler("multilabel", np.zeros((4, 2)), seed=0)
