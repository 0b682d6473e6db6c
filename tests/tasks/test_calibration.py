"""ECE and temperature scaling (tasks/classification/calibration.py) on synthetic probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionfit.tasks.classification.calibration import (
    apply_temperature,
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    logits_from_probs,
    nll,
    probs_from_logits,
)
from visionfit.tasks.classification.module import probabilities


def _calibrated_multiclass(n: int, k: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities from random logits, labels drawn from exactly those probabilities."""
    logits = rng.normal(0, 2.0, (n, k))
    p = probs_from_logits(logits, "multiclass")
    y = (rng.random(n)[:, None] > p.cumsum(axis=1)).sum(axis=1).clip(0, k - 1)
    return logits, y


def test_ece_of_calibrated_probabilities_is_near_zero():
    rng = np.random.default_rng(0)
    logits, y = _calibrated_multiclass(20000, 4, rng)
    assert (
        expected_calibration_error(probs_from_logits(logits, "multiclass"), y, "multiclass") < 0.02
    )


def test_ece_of_over_confident_probabilities_is_large():
    rng = np.random.default_rng(1)
    logits, y = _calibrated_multiclass(20000, 4, rng)
    over = probs_from_logits(logits * 4, "multiclass")  # T = 1/4: far too sure
    assert expected_calibration_error(over, y, "multiclass") > 0.15


def test_ece_by_hand():
    # two images at confidence 0.9, one right one wrong: |0.5 - 0.9| = 0.4
    p = np.array([[0.9, 0.1], [0.9, 0.1]])
    assert expected_calibration_error(p, np.array([0, 1]), "binary") == pytest.approx(0.4)
    # multi-label: per label, averaged (label 0 calibrated in its bin, label 1 off by 0.8)
    p = np.array([[0.5, 0.8], [0.5, 0.8]])
    y = np.array([[1, 0], [0, 0]])
    assert expected_calibration_error(p, y, "multilabel") == pytest.approx((0.0 + 0.8) / 2)


@pytest.mark.parametrize(
    ("mode", "true_t"),
    [("multiclass", 2.5), ("multiclass", 0.5), ("binary", 3.0), ("multilabel", 2.0)],
)
def test_fit_temperature_recovers_a_known_temperature(mode, true_t):
    rng = np.random.default_rng(2)
    n = 20000
    if mode == "multiclass":
        logits, y = _calibrated_multiclass(n, 5, rng)
    else:
        cols = 1 if mode == "binary" else 3
        logits = rng.normal(0, 2.0, (n, cols))
        y = (rng.random((n, cols)) < 1 / (1 + np.exp(-logits))).astype(int)
        y = y[:, 0] if mode == "binary" else y
    # the network's logits are the calibrated ones times T: dividing by T calibrates them
    shown = probs_from_logits(logits * true_t, mode)
    t = fit_temperature(shown, y, mode)
    assert t == pytest.approx(true_t, rel=0.08)
    assert nll(apply_temperature(shown, mode, t), y, mode) < nll(shown, y, mode)


def test_apply_temperature_matches_the_torch_probabilities():
    """What the report / CV compute from stored probabilities equals what predict computes from
    the logits (module.probabilities with the run's temperature)."""
    rng = np.random.default_rng(3)
    for mode, cols in (("multiclass", 4), ("binary", 1), ("multilabel", 3)):
        z = rng.normal(0, 2, (50, cols))
        raw = probabilities(torch.tensor(z), mode).numpy()
        scaled = probabilities(torch.tensor(z), mode, 1.7).numpy()
        np.testing.assert_allclose(apply_temperature(raw, mode, 1.7), scaled, atol=1e-5)
        np.testing.assert_allclose(apply_temperature(scaled, mode, 1 / 1.7), raw, atol=1e-5)
        assert logits_from_probs(raw, mode).shape[1] == cols


def test_summary_keys():
    rng = np.random.default_rng(4)
    logits, y = _calibrated_multiclass(2000, 3, rng)
    p = probs_from_logits(logits * 3, "multiclass")
    plain = calibration_summary(p, y, "multiclass", "none")
    assert set(plain) == {"ece", "calibration"} and plain["calibration"]["bins"] == 15
    scaled = calibration_summary(p, y, "multiclass", "temperature", measured_on="out-of-fold")
    assert scaled["temperature"] == pytest.approx(3.0, rel=0.15)
    assert scaled["ece_calibrated"] < scaled["ece"]
    assert scaled["calibration"]["measured_on"] == "out-of-fold"


def test_nothing_to_fit_gives_one():
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0), "multiclass") == 1.0
