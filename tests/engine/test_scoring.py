"""Out-of-fold scoring (scikit-learn) and decision thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from visionfit.errors import VisionfitError
from visionfit.tasks.classification.cvreport import score_folds, summary_frame
from visionfit.tasks.classification.scoring import check_threshold_option, choose_threshold, score


def _binary(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    p = np.clip(0.3 * y + rng.normal(0.3, 0.15, n), 0, 1)
    return y, np.stack([1 - p, p], axis=1)


def test_binary_scores_match_sklearn():
    y, probs = _binary()
    s = score("binary", ["neg", "pos"], y, probs)
    assert s["val_auroc"] == roc_auc_score(y, probs[:, 1])
    assert s["val_balanced_acc"] == pytest.approx(balanced_accuracy_score(y, probs[:, 1] >= 0.5))
    assert s["val_f1"] == pytest.approx(f1_score(y, probs[:, 1] >= 0.5))
    assert set(s) == {"val_loss", "val_acc", "val_balanced_acc", "val_auroc", "val_f1"}


def test_thresholds_youden_and_f1_beat_half_on_imbalanced_scores():
    y, probs = _binary()
    p = probs[:, 1]
    t_y = choose_threshold("binary", "youden", y, probs)
    t_f = choose_threshold("binary", "f1", y, probs)
    assert choose_threshold("binary", "0.3", y, probs) == 0.3
    assert choose_threshold("multiclass", "f1", y, probs) is None
    assert f1_score(y, p >= t_f) >= max(f1_score(y, p >= t) for t in np.linspace(0.05, 0.95, 19))
    assert balanced_accuracy_score(y, p >= t_y) > balanced_accuracy_score(y, p >= 0.5)
    with pytest.raises(VisionfitError, match="youden"):
        check_threshold_option("best")


def test_multilabel_scores_per_label_and_thresholds():
    rng = np.random.default_rng(1)
    y = (rng.random((120, 3)) < 0.3).astype(int)
    probs = np.clip(0.4 * y + rng.random((120, 3)) * 0.6, 0, 1)
    s = score("multilabel", ["a", "b", "c"], y, probs)
    for j, c in enumerate("abc"):
        assert s[f"val_auroc_{c}"] == roc_auc_score(y[:, j], probs[:, j])
    assert s["val_auroc"] == pytest.approx(np.mean([s[f"val_auroc_{c}"] for c in "abc"]))
    t = choose_threshold("multilabel", "f1", y, probs)
    assert isinstance(t, list) and len(t) == 3


def test_cv_summary_mean_std_and_pooled():
    y, probs = _binary(150)
    fold = np.arange(150) % 3
    s = score_folds("binary", ["neg", "pos"], y, probs, fold, "youden")
    aucs = [roc_auc_score(y[fold == k], probs[fold == k, 1]) for k in range(3)]
    assert s.mean["val_auroc"] == pytest.approx(np.mean(aucs))
    assert s.std["val_auroc"] == pytest.approx(np.std(aucs))
    assert s.oof["val_auroc"] == roc_auc_score(y, probs[:, 1])
    table = summary_frame(s)
    assert table["fold"].tolist() == ["0", "1", "2", "mean", "std", "oof"]
    assert "mean ± std over 3 folds" in s.headline() and "pooled out-of-fold" in s.headline()
