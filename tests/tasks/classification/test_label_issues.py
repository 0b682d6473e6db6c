"""Confident learning (tasks/classification/label_issues.py) on matrices worked out by hand."""

import numpy as np
import pytest

from visionfit.errors import DataError
from visionfit.tasks.classification.label_issues import (
    calibrate_joint,
    confident_joint,
    find_label_issues,
    lowest_self_confidence,
    per_class_thresholds,
    prune_by_noise_rate,
)

LABELS = np.array([0, 0, 1, 1, 0])
PROBS = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.1, 0.9]])


def test_thresholds_are_mean_self_confidence():
    t = per_class_thresholds(LABELS, PROBS)
    assert t == pytest.approx([(0.9 + 0.8 + 0.1) / 3, (0.9 + 0.8) / 2])


def test_confident_joint_counts_the_largest_class_above_threshold():
    t = per_class_thresholds(LABELS, PROBS)
    # example 3 (p1 0.8 < t1 0.85, p0 0.2 < t0) is above no threshold: not counted
    assert confident_joint(LABELS, PROBS, t).tolist() == [[2, 1], [0, 1]]


def test_confident_joint_picks_argmax_among_classes_above_threshold():
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.45, 0.45], [0.1, 0.2, 0.7]])
    t = np.array([0.2, 0.25, 0.2])  # example 1: classes 1 and 2 both above; 1 wins (tie: first)
    assert confident_joint(np.array([0, 0, 2]), probs, t).tolist() == [
        [1, 1, 0],
        [0, 0, 0],
        [0, 0, 1],
    ]


def test_calibration_rescales_rows_to_label_counts():
    q = calibrate_joint(np.array([[2, 1], [0, 1]]), np.array([3, 2]))
    assert q == pytest.approx(np.array([[0.4, 0.2], [0.0, 0.4]]))
    assert q.sum() == pytest.approx(1.0)
    # a row without any confident example keeps its count on the diagonal
    q = calibrate_joint(np.array([[1, 1], [0, 0]]), np.array([2, 2]))
    assert q == pytest.approx(np.array([[0.25, 0.25], [0.0, 0.5]]))


def test_prune_takes_largest_margins_and_keeps_one_per_class():
    labels = np.array([0, 0, 0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.6, 0.4], [0.1, 0.9], [0.2, 0.8]])
    q = np.array([[3 / 6, 1 / 6 * 2], [0.0, 2 / 6]]) / (7 / 6)  # n*Q[0][1] = 2
    q = q / q.sum()
    n_off = round(6 * q[0, 1])
    mask = prune_by_noise_rate(labels, probs, q)
    assert n_off == 2 and np.flatnonzero(mask).tolist() == [1, 2]  # margins 0.2 and 0.6
    everything = np.array([[0.0, 1.0], [0.0, 0.0]])  # asks for all 4 of class 0: 3 at most
    assert prune_by_noise_rate(labels, probs, everything).sum() == 3


def test_find_label_issues_flags_the_flip_ranked_by_self_confidence():
    found = find_label_issues(LABELS, PROBS)
    assert found.flagged.tolist() == [4]
    assert found.suggested[4] == 1 and found.self_confidence[4] == pytest.approx(0.1)


def test_recovers_planted_flips_on_noisy_synthetic_probabilities():
    rng = np.random.default_rng(0)
    n, k = 600, 3
    true = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += 3.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = true.copy()
    flipped = rng.choice(n, 60, replace=False)
    given[flipped] = (true[flipped] + 1) % k
    found = find_label_issues(given, probs)
    hit = np.isin(found.flagged, flipped)
    assert hit.mean() > 0.8  # precision
    assert np.isin(flipped, found.flagged).mean() > 0.8  # recall
    assert np.all(np.diff(found.self_confidence[found.flagged]) >= 0)  # lowest first
    assert (found.suggested[found.flagged] != given[found.flagged]).all()


def test_no_noise_nothing_flagged():
    probs = np.eye(3)[[0, 1, 2, 0, 1, 2]] * 0.9 + 0.1 / 3
    assert find_label_issues(np.array([0, 1, 2, 0, 1, 2]), probs).flagged.tolist() == []


def test_lowest_self_confidence_baseline():
    assert lowest_self_confidence(LABELS, PROBS, 2).tolist() == [4, 1]


def test_bad_inputs_are_data_errors():
    with pytest.raises(DataError, match="class indices"):
        find_label_issues(np.array([0, 2]), np.array([[0.5, 0.5], [0.5, 0.5]]))
    with pytest.raises(DataError, match="NaN"):
        find_label_issues(np.array([0, 1]), np.array([[np.nan, 0.5], [0.5, 0.5]]))
