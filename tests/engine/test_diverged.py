"""A diverging run stops with a DivergedError (one line, exit 2 in the CLI), never a model of NaN
weights or a raw torch overflow error."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from visionfit.engine.callbacks import StopOnNonFinite, diverged_from_overflow
from visionfit.errors import DivergedError, VisionfitError

TRAINER = SimpleNamespace(current_epoch=3, global_step=17, sanity_checking=False)


def test_a_non_finite_loss_stops_training_naming_epoch_and_step():
    cb = StopOnNonFinite()
    cb.on_before_backward(TRAINER, None, torch.tensor(0.5))  # finite: nothing happens
    for bad in (float("nan"), float("inf")):
        with pytest.raises(DivergedError, match=r"epoch 3, step 17.*lower --lr"):
            cb.on_before_backward(TRAINER, None, torch.tensor(bad))


def test_non_finite_weights_stop_before_validation_and_at_the_end():
    cb = StopOnNonFinite()
    net = torch.nn.Linear(2, 2)
    cb.on_validation_start(TRAINER, net)
    cb.on_train_end(TRAINER, net)
    with torch.no_grad():
        net.weight[0, 0] = float("nan")
    with pytest.raises(DivergedError, match="'weight'"):
        cb.on_validation_start(TRAINER, net)
    with pytest.raises(DivergedError):
        cb.on_train_end(TRAINER, net)
    cb.on_validation_start(SimpleNamespace(**{**vars(TRAINER), "sanity_checking": True}), net)


def test_a_float_overflow_in_the_optimizer_is_a_divergence():
    err = RuntimeError("value cannot be converted to type float without overflow")
    diverged = diverged_from_overflow(err, TRAINER)
    assert isinstance(diverged, VisionfitError) and "lower --lr" in str(diverged)
    assert diverged_from_overflow(RuntimeError("CUDA out of memory"), TRAINER) is None
