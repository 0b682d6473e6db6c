"""The percentile bootstrap (tasks/intervals.py) and the tasks' headline scorers: coverage on
synthetic data over a fixed list of seeds, width against n, groups, undefined resamples."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score, roc_auc_score

from visionfit.tasks.intervals import (
    Scorer,
    bootstrap_interval,
    interval_text,
    mean_scorer,
    scorer_interval,
)

SEEDS = list(range(40))


def _mean_fn(values):
    return lambda w: w @ values / w.sum(1)


def test_accuracy_interval_covers_the_true_rate_in_most_seeds():
    true_acc, covered = 0.8, 0
    for seed in SEEDS:
        correct = (np.random.default_rng(seed).random(400) < true_acc).astype(float)
        iv = bootstrap_interval(_mean_fn(correct), 400, seed=seed, vectorised=True)
        covered += iv["low"] <= true_acc <= iv["high"]
    assert covered >= 0.85 * len(SEEDS)  # nominal 95 %; deterministic for these seeds


def test_auc_interval_covers_the_population_auc_in_most_seeds():
    # scores N(1, 1) for positives, N(0, 1) for negatives: AUC = Phi(1 / sqrt 2)
    true_auc = 0.5 * (1 + math.erf(0.5))
    covered = 0
    for seed in SEEDS[:6]:
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, 200)
        p = rng.normal(y.astype(float), 1.0)
        iv = bootstrap_interval(
            lambda i, y=y, p=p: roc_auc_score(y[i], p[i]), 200, resamples=150, seed=seed
        )
        covered += iv["low"] <= true_auc <= iv["high"]
    assert covered >= 5


def test_width_shrinks_with_n():
    widths = []
    for n in (100, 400, 1600):
        correct = (np.random.default_rng(1).random(n) < 0.7).astype(float)
        iv = bootstrap_interval(_mean_fn(correct), n, vectorised=True)
        widths.append(iv["high"] - iv["low"])
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[2] == pytest.approx(4, rel=0.3)  # ~ 1 / sqrt(n)


def test_grouped_resampling_is_wider_when_groups_are_correlated():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(40), 10)  # 40 patients of 10 images each
    # a patient is either easy or hard: their images are right or wrong together
    correct = np.repeat(rng.random(40) < 0.7, 10).astype(float)
    plain = bootstrap_interval(_mean_fn(correct), 400, vectorised=True)
    grouped = bootstrap_interval(_mean_fn(correct), 400, groups=groups, vectorised=True)
    assert grouped["unit"] == "groups" and grouped["n"] == 40
    assert plain["unit"] == "images" and plain["n"] == 400
    assert grouped["high"] - grouped["low"] > 2 * (plain["high"] - plain["low"])


def test_vectorised_and_per_resample_paths_agree():
    rng = np.random.default_rng(5)
    correct = (rng.random(300) < 0.6).astype(float)
    groups = rng.integers(0, 50, 300)
    for g in (None, groups):
        a = bootstrap_interval(_mean_fn(correct), 300, groups=g, seed=7, vectorised=True)
        b = bootstrap_interval(lambda i: correct[i].mean(), 300, groups=g, seed=7)
        assert a["low"] == pytest.approx(b["low"]) and a["high"] == pytest.approx(b["high"])


def test_fixed_seed_reproduces_and_another_seed_differs():
    dice = np.random.default_rng(0).random(200)  # per-image scores: continuous
    a = bootstrap_interval(_mean_fn(dice), 200, seed=11, vectorised=True)
    b = bootstrap_interval(_mean_fn(dice), 200, seed=11, vectorised=True)
    c = bootstrap_interval(_mean_fn(dice), 200, seed=12, vectorised=True)
    assert a == b and (a["low"], a["high"]) != (c["low"], c["high"])


def test_undefined_resamples_are_dropped_and_counted():
    y = np.array([1] + [0] * 9)  # most resamples of 10 draw no positive: AUC undefined
    p = np.linspace(0, 1, 10)

    def auc(i):
        return math.nan if len(set(y[i])) < 2 else roc_auc_score(y[i], p[i])

    iv = bootstrap_interval(auc, 10, resamples=200)
    assert iv["dropped"] > 0 and iv["resamples"] + iv["dropped"] == 200
    raising = bootstrap_interval(lambda i: roc_auc_score(y[i], p[i]), 10, resamples=200)
    assert raising["dropped"] == iv["dropped"]  # sklearn's ValueError counts the same


def test_nothing_to_resample_gives_none():
    assert bootstrap_interval(lambda i: 1.0, 1) is None
    assert bootstrap_interval(lambda i: 1.0, 5, resamples=0) is None
    assert bootstrap_interval(lambda i: math.nan, 5, resamples=10) is None
    assert interval_text(None) == ""


def test_scorer_interval_names_metric_score_and_a_capped_resample_count():
    s = mean_scorer("acc", np.array(list("abcdef")), [1, 0, 1, 1, 0, 1])
    iv = scorer_interval(s, resamples=500)
    assert iv["metric"] == "acc" and iv["score"] == pytest.approx(4 / 6)
    assert iv["resamples"] == 500 and "note" not in iv
    assert iv["low"] <= iv["score"] <= iv["high"]
    capped = Scorer("auroc", s.images, 0.5, score=lambda i: 0.5, resamples_cap=100,
                    cap_reason="expensive")  # fmt: skip
    iv = scorer_interval(capped, resamples=1000)
    assert iv["resamples"] == 100 and "100 resamples, not 1000: expensive" in iv["note"]
    assert interval_text(iv) == "[0.500, 0.500]"


def test_regression_weighted_r2_matches_sklearn():
    from visionfit.tasks.regression.intervals import weighted_r2

    rng = np.random.default_rng(2)
    y = rng.normal(size=50)
    pred = y + rng.normal(scale=0.5, size=50)
    idx = rng.integers(0, 50, 50)
    w = np.bincount(idx, minlength=50)[None, :].astype(float)
    assert weighted_r2(w, y, pred - y)[0] == pytest.approx(r2_score(y[idx], pred[idx]))
    assert math.isnan(weighted_r2(np.eye(50)[:1] * 3, y, pred - y)[0])  # one target: undefined


def _classification_run(tmp_path, mode, classes, labels, probs, targets):
    from visionfit.tasks.classification.intervals import classification_scorer

    images = [f"img{i}.png" for i in range(len(labels))]
    table = pd.DataFrame({"image": images, "label": labels, "pred": labels})
    for j, c in enumerate(classes):
        table[f"prob_{c}"] = probs[:, j]
    table.iloc[::-1].to_csv(tmp_path / "val_predictions.csv", index=False)  # any row order
    df = pd.DataFrame({"image": images, "label": labels, "target": targets})
    data = SimpleNamespace(label_mode=mode, classes=classes)
    return classification_scorer(data, df, tmp_path, "val")


def test_classification_scorer_accuracy_and_auc(tmp_path):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1, 1], size=60)
    targets = rng.integers(0, 3, 60)
    labels = [["a", "b", "c"][t] for t in targets]
    s = _classification_run(tmp_path, "multiclass", ["a", "b", "c"], labels, probs, targets)
    assert s.metric == "acc" and s.weighted is not None
    assert s.value == pytest.approx((probs.argmax(1) == targets).mean())
    p = rng.random((40, 1))
    binary = np.hstack([1 - p, p])
    y = (p[:, 0] + rng.normal(scale=0.3, size=40) > 0.5).astype(int)
    s = _classification_run(tmp_path, "binary", ["n", "p"], [["n", "p"][v] for v in y], binary, y)
    assert s.metric == "auroc" and s.value == pytest.approx(roc_auc_score(y, p[:, 0]))
    iv = scorer_interval(s, resamples=200)
    assert iv["low"] <= s.value <= iv["high"]


def test_a_missing_predictions_file_gives_no_scorer(tmp_path):
    from visionfit.tasks.classification.intervals import classification_scorer
    from visionfit.tasks.segmentation.intervals import segmentation_scorer

    df = pd.DataFrame({"image": ["a"], "label": ["x"], "target": [0]})
    data = SimpleNamespace(label_mode="multiclass", classes=["x", "y"])
    assert classification_scorer(data, df, tmp_path, "oof") is None
    pd.DataFrame({"image": ["a", "b"], "dice": [0.5, 0.7]}).to_csv(
        tmp_path / "oof_scores.csv", index=False
    )
    df = pd.DataFrame({"image": ["a", "b"]})
    s = segmentation_scorer(data, df, tmp_path, "oof")
    assert s.metric == "dice" and s.value == pytest.approx(0.6)


def test_weighted_auc_equals_scikit_learn_with_the_resample_as_sample_weight():
    """ROC AUC of every resample at once (binary and multi-label intervals): the same number as
    roc_auc_score with the row multiplicities as sample_weight, ties included; NaN with one
    class in the resample."""
    from sklearn.metrics import roc_auc_score

    from visionfit.tasks.classification.intervals import weighted_auc

    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 2, 40), np.round(rng.random(40), 1)  # rounded: many tied scores
    weights = rng.integers(0, 3, (30, 40)).astype(float)
    weights[0] = np.where(y == 1, 1.0, 0.0)  # positives only: undefined
    got = weighted_auc(y, p, weights)
    assert np.isnan(got[0])
    want = [roc_auc_score(y, p, sample_weight=w) for w in weights[1:]]
    assert got[1:] == pytest.approx(want, abs=1e-12)


def test_draws_are_held_a_block_at_a_time_with_the_same_numbers_as_one_matrix():
    """1,000 resamples of 2 million validation images were one 16 GB matrix of draws: the
    draws now come a block of at most _BLOCK_CELLS cells at a time, and are the same numbers"""
    import tracemalloc

    from visionfit.tasks import intervals

    correct = (np.random.default_rng(3).random(200_000) < 0.7).astype(np.float64)
    scorer = lambda w: w @ correct / w.sum(1)  # noqa: E731
    tracemalloc.start()
    iv = bootstrap_interval(scorer, len(correct), resamples=400, vectorised=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    whole = 400 * len(correct) * 8  # the draws as one int64 matrix: 640 MB
    assert peak < whole / 4
    blocks = list(intervals._draws(0, 50, 1_000, rows=1_000))
    assert sum(b.size for b in blocks) == 50 * 1_000
    assert np.array_equal(
        np.concatenate(blocks), np.random.default_rng(0).integers(0, 1_000, size=(50, 1_000))
    )
    assert iv["low"] < correct.mean() < iv["high"]
