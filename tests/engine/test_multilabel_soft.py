"""Multi-label (BCE, per-label AUROC, per-label thresholds from out-of-fold predictions) and soft
labels (soft-target cross-entropy, metrics against the arg-max), and the baseline on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import visionfit
from visionfit.config import BaselineConfig, RunConfig
from visionfit.data.synthetic import make_multilabel_dataset
from visionfit.engine.baseline import run_baseline
from visionfit.engine.cv import cross_validate

LABELS = ["circle", "square", "triangle"]


@pytest.fixture(scope="module")
def multilabel_csv(tmp_path_factory) -> Path:
    return make_multilabel_dataset(tmp_path_factory.mktemp("ml") / "data", n=120, size=32, seed=5)


def _config(runs: Path, data: dict, **train) -> RunConfig:
    return RunConfig.from_dict(
        {
            "runs_dir": str(runs),
            "data": {"workers": 0, **data},
            "augment": {"preset": "none", "img_size": 32},
            "train": {"epochs": 6, "batch_size": 16, "lr": 3e-3, "patience": None, **train},
        }
    )


@pytest.fixture(scope="module")
def multilabel_cv(multilabel_csv, tmp_path_factory):
    cfg = _config(
        tmp_path_factory.mktemp("runs"), {"csv": str(multilabel_csv), "label_cols": LABELS}
    ).with_overrides({"cv.folds": 2})
    return cross_validate(cfg, progress=False)


def test_multilabel_cv_learns_and_tunes_a_threshold_per_label(multilabel_cv, multilabel_csv):
    r = multilabel_cv
    assert r.task == "multilabel" and r.fold_kind == "multilabel" and r.classes == LABELS
    oof = pd.read_csv(r.run_dir / "oof.csv", keep_default_na=False)
    truth = pd.read_csv(multilabel_csv)
    assert len(oof) == len(truth) == 120 and oof["image"].is_unique
    for c in LABELS:
        auc = roc_auc_score(truth[c], oof[f"prob_{c}"])
        assert auc == pytest.approx(r.scores.oof[f"val_auroc_{c}"], abs=1e-12)
    # chance is 0.5; pooling two short-trained folds costs some AUC (calibration differs)
    assert r.scores.mean["val_auroc"] > 0.8, r.scores.mean
    assert r.scores.oof["val_auroc"] > 0.65, r.scores.oof
    meta = json.loads((r.run_dir / "model.json").read_text())
    thr = meta["threshold"]
    assert isinstance(thr, list) and len(thr) == 3 and thr == r.scores.threshold
    # oof.csv's pred: the labels whose probability reaches their own threshold
    probs = oof[[f"prob_{c}" for c in LABELS]].to_numpy()
    expected = [
        " ".join(c for c, p, t in zip(LABELS, row, thr, strict=True) if p >= t) for row in probs
    ]
    assert oof["pred"].tolist() == expected
    table = pd.read_csv(r.run_dir / "cv_summary.csv")
    assert {"val_auroc", "val_auroc_circle", "val_macro_f1"} <= set(table.columns)


def test_multilabel_predict_uses_per_label_thresholds(multilabel_cv, multilabel_csv):
    d = multilabel_cv.run_dir
    images = [str(multilabel_csv.parent / p) for p in pd.read_csv(multilabel_csv)["image"][:30]]
    df = visionfit.load(d).predict(images)
    assert list(df.columns) == ["image", "pred", *[f"prob_{c}" for c in LABELS]]
    thr = json.loads((d / "model.json").read_text())["threshold"]
    for _, row in df.iterrows():
        on = [c for c, t in zip(LABELS, thr, strict=True) if row[f"prob_{c}"] >= t]
        assert row["pred"].split() == on if isinstance(row["pred"], str) else on == []


def test_multilabel_single_run_from_a_delimited_column(multilabel_csv, tmp_path):
    cfg = _config(
        tmp_path, {"csv": str(multilabel_csv), "label_col": "tags", "label_delim": " "}, epochs=4
    )
    r = visionfit.fit(cfg, progress=False)
    assert r.task == "multilabel" and r.classes == LABELS
    for k in ("val_auroc", "val_macro_f1", "val_acc", "val_auroc_circle", "val_auroc_triangle"):
        assert k in r.best_metrics
    meta = json.loads((r.run_dir / "model.json").read_text())
    assert meta["num_outputs"] == 3 and len(meta["threshold"]) == 3
    splits = pd.read_csv(r.run_dir / "splits.csv", keep_default_na=False)
    assert (splits["split"] == "val").sum() == 24


def test_soft_labels_learn_above_chance(shapes_dir, tmp_path):
    """Plant-pathology style: one probability column per class."""
    rows = []
    for i, cls in enumerate(LABELS):
        for p in sorted((shapes_dir / cls).glob("*.png")):
            soft = np.full(3, 0.1)
            soft[i] = 0.8
            rows.append({"image": f"{cls}/{p.name}", **dict(zip(LABELS, soft, strict=True))})
    csv = tmp_path / "soft.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    cfg = _config(
        tmp_path / "runs",
        {"csv": str(csv), "root": str(shapes_dir), "label_cols": LABELS, "task": "soft"},
        epochs=5,
    )
    r = visionfit.fit(cfg, progress=False)
    assert r.task == "soft"
    assert r.best_metrics["val_acc"] > 0.6, r.best_metrics  # against the arg-max; chance 0.33
    assert "val_macro_f1" in r.best_metrics and "val_balanced_acc" in r.best_metrics
    df = visionfit.load(r.run_dir).predict([shapes_dir / "square" / "square_0001.png"])
    np.testing.assert_allclose(df.filter(like="prob_").sum(axis=1), 1.0, atol=1e-5)


def test_baseline_on_multilabel_and_multiclass(multilabel_csv, shapes_dir, tmp_path):
    ml = run_baseline(
        BaselineConfig.from_dict(
            {
                "data": {"csv": str(multilabel_csv), "label_cols": LABELS},
                "cv": {"folds": 3},
                "model": "logreg",
                "features": "hog",
                "n_jobs": 2,
                "runs_dir": str(tmp_path),
            }
        ),
        progress=False,
    )
    assert ml.task == "multilabel" and ml.scores.oof["val_auroc"] > 0.7, ml.scores.oof
    mc = run_baseline(
        BaselineConfig.from_dict(
            {
                "data": {"path": str(shapes_dir)},
                "cv": {"folds": 3},
                "model": "svm",
                "features": "hog",
                "pca": 30,
                "n_jobs": 2,
                "runs_dir": str(tmp_path),
            }
        ),
        progress=False,
    )
    assert mc.task == "multiclass" and mc.scores.oof["val_acc"] > 0.6  # chance 0.33
    oof = pd.read_csv(mc.run_dir / "oof.csv")
    assert (oof["pred"] == oof["label"]).mean() == pytest.approx(mc.scores.oof["val_acc"])
    summary = json.loads((mc.run_dir / "summary.json").read_text())
    assert summary["kind"] == "baseline" and summary["n_features"] > 0
