"""The leakage-corrected validation score: which validation images leak, and their headline
scored again without them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from visionfit.config import RunConfig
from visionfit.engine.leakage import cv_leakage, leaked_pairs, run_leakage
from visionfit.runs.files import NEAR_DUPLICATES
from visionfit.tasks.base import TaskData
from visionfit.tasks.classification.leakage import headline_score
from visionfit.tasks.registry import get_task


def _data(n=20):
    rng = np.random.default_rng(0)
    hashes = [int(h) for h in rng.integers(0, 2**63, size=n)]
    hashes[1] = hashes[0] ^ 0b11  # val image 1 is a near-duplicate of train image 0
    hashes[3] = hashes[2] ^ 0b1  # val image 3 of val image 2: both held out, no leak
    images = [f"/d/{k}.png" for k in range(n)]
    labels = ["a", "b"] * (n // 2)
    df = pd.DataFrame({"image": images, "label": labels})
    df["target"] = (df["label"] == "b").astype(int)
    df["split"] = ["train", "val", "val", "val"] + ["train", "val"] * ((n - 4) // 2)
    data = TaskData(
        df=df,
        classes=["a", "b"],
        layout="folders",
        label_mode="binary",
        skipped=pd.DataFrame(),
        phash={p: f"{h:016x}" for p, h in zip(images, hashes, strict=True)},
    )
    return data, df


def test_only_validation_images_near_a_training_image_leak():
    data, df = _data()
    pairs = leaked_pairs(df, data.phash, 8, "split")
    assert pairs[["image_a", "image_b", "split_a", "split_b"]].values.tolist() == [
        ["/d/1.png", "/d/0.png", "val", "train"]
    ]


def test_run_scores_validation_again_without_leaked_images(tmp_path):
    data, df = _data()
    cfg = RunConfig.from_dict({"data": {"path": "x"}})
    val = df[df["split"] == "val"].reset_index(drop=True)
    rng = np.random.default_rng(1)
    p1 = rng.random(len(val))
    probs = np.stack([1 - p1, p1], axis=1)
    task = get_task("classification")
    out = run_leakage(task, cfg, data, df, probs, {"threshold": 0.5}, tmp_path)
    assert out["leaked_val_images"] == 1
    keep = val["image"] != "/d/1.png"
    expected = roc_auc_score(val.loc[keep, "target"], p1[keep.to_numpy()])
    assert out["leakage_corrected"] == expected
    written = pd.read_csv(tmp_path / NEAR_DUPLICATES)
    assert written["image_a"].tolist() == ["/d/1.png"]


def test_cv_leakage_drops_both_images_of_a_pair_across_folds(tmp_path):
    data, df = _data()
    data.df = df.drop(columns="split")
    fold = np.array([0, 1, 0, 0] + [0, 1] * 8)  # 0 and 1 in two folds; 2 and 3 in one
    cfg = RunConfig.from_dict({"data": {"path": "x"}})
    p1 = np.linspace(0.1, 0.9, len(fold))
    probs = np.stack([1 - p1, p1], axis=1)
    out = cv_leakage(get_task("classification"), cfg, data, fold, probs, {}, tmp_path)
    assert out["leaked_val_images"] == 2
    keep = ~data.df["image"].isin(["/d/0.png", "/d/1.png"]).to_numpy()
    pooled = roc_auc_score(data.df["target"][keep], p1[keep])
    assert out["leakage_corrected_oof"] == pooled
    assert len(out["leakage_corrected_per_fold"]) == 2


def test_no_near_duplicates_no_keys(tmp_path):
    data, df = _data()
    cfg = RunConfig.from_dict({"data": {"path": "x", "near_duplicates": False}})
    assert run_leakage(get_task("classification"), cfg, data, df, None, {}, tmp_path) == {}


def test_headline_score_is_the_run_metric_on_the_given_rows():
    y = np.array([0, 1, 1, 0])
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert headline_score("binary", ["a", "b"], list("wxyz"), y, p) == roc_auc_score(y, p[:, 1])
    assert headline_score("multiclass", ["a", "b"], list("wxyz"), y, p) == 0.5
    assert headline_score("binary", ["a", "b"], [], y[:0], p[:0]) is None


class _PerImageTask:
    """A task that keeps per-image scores (as segmentation's val_scores.csv / oof_scores.csv):
    no `rescore` from probabilities, an interval scorer over the rows it is given."""

    def __init__(self, values: dict[str, float]):
        self.values = values

    def rescore(self, data, df, probs, post):
        return None

    def interval_scorer(self, data, df, run_dir, of):
        from visionfit.tasks.intervals import mean_scorer

        images = list(df["image"])
        return mean_scorer("dice", images, [self.values[i] for i in images])


def test_per_image_scores_give_the_corrected_score_without_probabilities(tmp_path):
    """Segmentation and regression: the headline without the leaked images comes from the
    per-image scores the run wrote (the interval's scorer), single runs and K-fold runs."""
    data, df = _data()
    cfg = RunConfig.from_dict({"data": {"path": "x"}})
    values = {img: (0.0 if img == "/d/1.png" else 0.8) for img in df["image"]}
    out = run_leakage(_PerImageTask(values), cfg, data, df, None, {}, tmp_path)
    assert out["leaked_val_images"] == 1 and out["leakage_corrected"] == pytest.approx(0.8)

    data.df = df.drop(columns="split")
    fold = np.array([0, 1, 0, 0] + [0, 1] * 8)
    values["/d/0.png"] = 0.2
    (tmp_path / "cv").mkdir()
    out = cv_leakage(_PerImageTask(values), cfg, data, fold, None, {}, tmp_path / "cv")
    assert out["leakage_corrected_oof"] == pytest.approx(0.8)
    assert out["leakage_corrected"] == pytest.approx(0.8)
    assert out["leakage_corrected_per_fold"] == pytest.approx([0.8, 0.8])
