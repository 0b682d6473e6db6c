"""The tasks' `audit` hooks on run files written by hand (oof.csv, val_scores.csv, ...)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from visionfit.errors import RunError
from visionfit.tasks.auditing import AuditArgs
from visionfit.tasks.classification.audit import audit_classification
from visionfit.tasks.regression.audit import audit_regression
from visionfit.tasks.segmentation.audit import audit_segmentation


def _no_predict(images):
    raise AssertionError("the run's own predictions should have been read")


def _args(tmp_path, classes=(), predict=_no_predict):
    return AuditArgs(run=SimpleNamespace(path=tmp_path, classes=list(classes)), predict=predict)


def _noisy(n=90, seed=0):
    rng = np.random.default_rng(seed)
    true = np.arange(n) % 3
    probs = np.full((n, 3), 0.05)
    probs[np.arange(n), true] = 0.9
    given = true.copy()
    flipped = rng.choice(n, 6, replace=False)
    given[flipped] = (true[flipped] + 1) % 3
    return given, probs, flipped


def test_cv_run_oof_confident_learning(tmp_path):
    classes = ["a", "b", "c"]
    given, probs, flipped = _noisy()
    oof = pd.DataFrame({"image": [f"i{k}.png" for k in range(len(given))]})
    oof["label"] = [classes[g] for g in given]
    oof["fold"] = 0
    for j, c in enumerate(classes):
        oof[f"prob_{c}"] = probs[:, j]
    oof.to_csv(tmp_path / "oof.csv", index=False)
    found = audit_classification(_args(tmp_path, classes), "multiclass")
    assert found.source == "out-of-fold" and found.audited == 90
    assert sorted(found.issues["image"]) == sorted(f"i{k}.png" for k in flipped)
    assert found.flagged == 6
    row = found.issues.iloc[0]
    k = int(row["image"][1:-4])
    assert row["given"] == classes[given[k]] and row["suggested"] == classes[k % 3]
    assert sum(n for _, _, n in found.pairs) == 6


def test_single_run_predicts_its_validation_split(tmp_path):
    classes = ["a", "b"]
    pd.DataFrame(
        {"image": ["t.png", "v1.png", "v2.png", "v3.png", "v4.png"],
         "label": ["a", "a", "a", "b", "b"],
         "split": ["train", "val", "val", "val", "val"]}
    ).to_csv(tmp_path / "splits.csv", index=False)  # fmt: skip
    asked = []

    def predict(images):
        asked.extend(images)
        p1 = np.array([0.1, 0.95, 0.9, 0.8])  # v2 is labelled a, predicted b with 0.95
        return pd.DataFrame({"image": images, "prob_a": 1 - p1, "prob_b": p1, "error": ""})

    found = audit_classification(_args(tmp_path, classes, predict), "binary")
    assert asked == ["v1.png", "v2.png", "v3.png", "v4.png"]
    assert found.source == "validation" and found.audited == 4
    assert any("only its validation images" in n for n in found.notes)
    assert list(found.issues["image"][found.issues["flagged"]]) == ["v2.png"]


def test_multilabel_each_label_on_its_own(tmp_path):
    classes = ["x", "y"]
    n = 40
    on_x = np.arange(n) % 2 == 0
    px = np.where(on_x, 0.9, 0.1)
    py = np.full(n, 0.1)
    labels = ["x" if v else "" for v in on_x]
    labels[0] = ""  # image 0 shows x (p 0.9) but is given without it
    pd.DataFrame(
        {"image": [f"m{k}" for k in range(n)], "label": labels, "prob_x": px, "prob_y": py}
    ).to_csv(tmp_path / "oof.csv", index=False)
    found = audit_classification(_args(tmp_path, classes), "multilabel")
    flagged = found.issues[found.issues["flagged"]]
    assert list(flagged["image"]) == ["m0"]
    assert flagged.iloc[0]["given"] == "x: no" and flagged.iloc[0]["suggested"] == "x: yes"


def test_soft_labels_say_argmax(tmp_path):
    pd.DataFrame(
        {"image": ["s0", "s1", "s2", "s3"], "label": ["a", "b", "a", "b"],
         "prob_a": [0.9, 0.2, 0.8, 0.1], "prob_b": [0.1, 0.8, 0.2, 0.9]}
    ).to_csv(tmp_path / "oof.csv", index=False)  # fmt: skip
    found = audit_classification(_args(tmp_path, ["a", "b"]), "soft")
    assert any("arg-max" in n for n in found.notes)
    assert found.flagged == 0


def test_missing_probabilities_are_a_run_error(tmp_path):
    pd.DataFrame({"image": ["a"], "label": ["a"]}).to_csv(tmp_path / "oof.csv", index=False)
    with pytest.raises(RunError, match="prob_a"):
        audit_classification(_args(tmp_path, ["a", "b"]), "binary")


def test_segmentation_worst_dice_first(tmp_path):
    dice = [0.9, 0.92, 0.05, 0.88, 0.91, 0.93, 0.4]
    pd.DataFrame(
        {"fold": 0, "image": [f"s{k}" for k in range(7)], "dice": dice, "iou": dice,
         "pred_pixels": 10, "true_pixels": 12}
    ).to_csv(tmp_path / "oof_scores.csv", index=False)  # fmt: skip
    found = audit_segmentation(_args(tmp_path))
    assert list(found.issues["image"][:3]) == ["s2", "s6", "s3"]
    # fence: Q1 0.64 - 1.5 * IQR 0.275 = 0.23: only s2
    assert list(found.issues["image"][found.issues["flagged"]]) == ["s2"]
    assert found.score == "dice" and found.source == "out-of-fold"


def test_regression_largest_robust_residual_first(tmp_path):
    y = np.linspace(0, 10, 30)
    pred = y + np.tile([0.1, -0.1, 0.05], 10)
    pred[7] += 5.0
    pd.DataFrame({"image": [f"r{k}" for k in range(30)], "target": y, "prediction": pred}).to_csv(
        tmp_path / "oof.csv", index=False
    )
    found = audit_regression(_args(tmp_path))
    assert found.issues.iloc[0]["image"] == "r7" and found.flagged == 1
