"""K-fold CV, the baseline and the runs table, end to end through the CLI — the issue's
"how it will be checked": on an imbalanced binary set (one positive in five), `baseline` and
`train --folds` share one folds.csv, report mean ± std ROC AUC, their oof.csv re-scored
independently gives the summary's AUC, and `runs` lists both."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import visionfit
from visionfit.cli import main
from visionfit.data.synthetic import make_imbalanced_binary_dataset
from visionfit.errors import VisionfitError
from visionfit.inference.predict import Predictor, expand_inputs


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("imbalanced") / "data"
    return make_imbalanced_binary_dataset(root, n_negative=80, n_positive=20, seed=3)


@pytest.fixture(scope="module")
def checked(imbalanced, tmp_path_factory):
    """baseline --folds 5, then train on its folds.csv, then runs: as a user would."""
    work = tmp_path_factory.mktemp("check")
    runs = work / "runs"
    mp = pytest.MonkeyPatch()
    cap = _Capture()
    out = {}
    code, text = cap.run(
        mp,
        ["baseline", imbalanced, "--folds", "5", "--features", "hog", "--jobs", "2"]
        + ["--runs-dir", runs],
    )
    assert code == 0, text
    (baseline_dir,) = runs.iterdir()
    out["baseline_dir"], out["baseline_out"] = baseline_dir, text
    code, text = cap.run(
        mp,
        ["train", imbalanced, "--folds-file", baseline_dir / "folds.csv", "--epochs", "3"]
        + ["--img-size", "32", "--batch-size", "16", "--lr", "0.003", "--patience", "0"]
        + ["--threshold", "youden", "--refit", "--workers", "0", "--runs-dir", runs],
    )
    assert code == 0, text
    (cv_dir,) = [d for d in runs.iterdir() if d != baseline_dir]
    out["cv_dir"], out["cv_out"] = cv_dir, text
    code, text = cap.run(mp, ["runs", runs, "--sort", "val_auroc", "--csv", work / "runs.csv"])
    assert code == 0, text
    out["runs_out"], out["runs_csv"] = text, work / "runs.csv"
    mp.undo()
    return out


class _Capture:
    """Run the CLI in-process and capture what it prints (module-scoped: no capsys)."""

    def run(self, mp, args):
        import io

        from rich.console import Console

        from visionfit.cli import render

        buf = io.StringIO()
        mp.setattr(render, "console", Console(file=buf, width=200))
        mp.setattr(render, "err_console", Console(file=buf, width=200))
        mp.setattr(sys, "argv", ["visionfit", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        return code, buf.getvalue()


def test_baseline_and_cv_share_folds_and_report_mean_std_auc(checked, imbalanced):
    b, c = checked["baseline_dir"], checked["cv_dir"]
    fb, fc = pd.read_csv(b / "folds.csv"), pd.read_csv(c / "folds.csv")
    assert fb[["image", "fold"]].equals(fc[["image", "fold"]])
    assert sorted(fb["fold"].unique()) == [0, 1, 2, 3, 4]
    n_images = len(list(imbalanced.rglob("*.png")))
    assert len(fb) == n_images == 100
    for d, text, kind in ((b, checked["baseline_out"], "baseline"), (c, checked["cv_out"], "cv")):
        summary = json.loads((d / "summary.json").read_text())
        assert summary["kind"] == kind and summary["folds"] == 5
        assert summary["main_metric"] == "val_auroc"
        mean, std = summary["cv_mean"]["val_auroc"], summary["cv_std"]["val_auroc"]
        assert 0 <= std < 0.5
        assert f"val_auroc: {mean:.4f} ± {std:.4f} (mean ± std over 5 folds)" in text
        assert f"pooled out-of-fold val_auroc: {summary['oof']['val_auroc']:.4f}" in text
        table = pd.read_csv(d / "cv_summary.csv")
        assert table["fold"].astype(str).tolist() == ["0", "1", "2", "3", "4", "mean", "std", "oof"]
        for col in ("val_auroc", "val_acc", "val_balanced_acc", "val_f1", "val_loss"):
            assert col in table.columns
    # learnable data: both clearly above chance (0.5)
    assert json.loads((b / "summary.json").read_text())["oof"]["val_auroc"] > 0.85
    assert json.loads((c / "summary.json").read_text())["cv_mean"]["val_auroc"] > 0.75


def test_oof_rescored_independently_gives_the_summary_auc(checked, imbalanced):
    for d in (checked["baseline_dir"], checked["cv_dir"]):
        oof = pd.read_csv(d / "oof.csv")
        summary = json.loads((d / "summary.json").read_text())
        assert list(oof.columns) == [
            "image",
            "label",
            "fold",
            "pred",
            "prob_negative",
            "prob_positive",
        ]
        # one out-of-fold prediction for every image, exactly once, in its folds.csv fold
        assert oof["image"].is_unique and len(oof) == 100
        assert set(oof["image"]) == {str(p.resolve()) for p in imbalanced.rglob("*.png")}
        folds = pd.read_csv(d / "folds.csv").set_index("image")["fold"]
        assert (oof.set_index("image")["fold"] == folds.loc[oof["image"]].values).all()
        np.testing.assert_allclose(oof[["prob_negative", "prob_positive"]].sum(axis=1), 1)
        y = (oof["label"] == "positive").to_numpy()
        pooled = roc_auc_score(y, oof["prob_positive"])
        assert pooled == pytest.approx(summary["oof"]["val_auroc"], abs=1e-12)
        per_fold = [
            roc_auc_score(y[oof["fold"] == k], oof.loc[oof["fold"] == k, "prob_positive"])
            for k in range(5)
        ]
        assert np.mean(per_fold) == pytest.approx(summary["cv_mean"]["val_auroc"], abs=1e-12)
        assert np.std(per_fold) == pytest.approx(summary["cv_std"]["val_auroc"], abs=1e-12)
        # pred uses the tuned threshold stored in the summary
        thr = summary["threshold"]
        expected = np.where(oof["prob_positive"] >= thr, "positive", "negative")
        assert (oof["pred"] == expected).all()


def test_runs_lists_both(checked):
    runs = pd.read_csv(checked["runs_csv"])
    assert sorted(runs["kind"]) == ["baseline", "cv"]
    cv_row = runs[runs["kind"] == "cv"].iloc[0]
    assert cv_row["model"] == "simple_cnn" and cv_row["folds"] == 5 and cv_row["epochs"] == 3
    assert cv_row["img_size"] == 32 and cv_row["augment"] == "light" and cv_row["lr"] == 0.003
    base_row = runs[runs["kind"] == "baseline"].iloc[0]
    assert base_row["model"] == "rf (hog)" and base_row["metric"] == "val_auroc"
    assert runs["val_auroc"].is_monotonic_decreasing  # --sort val_auroc: best first
    summary = json.loads((checked["cv_dir"] / "summary.json").read_text())
    assert cv_row["score"] == pytest.approx(summary["cv_mean"]["val_auroc"])
    assert cv_row["std"] == pytest.approx(summary["cv_std"]["val_auroc"])
    for name in (checked["baseline_dir"].name, checked["cv_dir"].name):
        assert name in checked["runs_out"]


def test_cv_run_layout_and_refit(checked):
    d = checked["cv_dir"]
    for k in range(5):
        for f in ("model.safetensors", "model.json", "metrics.csv", "checkpoints/best.ckpt"):
            assert (d / f"fold_{k}" / f).is_file(), (k, f)
    meta = json.loads((d / "model.json").read_text())
    assert meta["kind"] == "cv" and meta["members"] == [f"fold_{k}" for k in range(5)]
    summary = json.loads((d / "summary.json").read_text())
    assert meta["threshold"] == summary["threshold"] and summary["threshold_method"] == "youden"
    # refit: one model on all 100 images for the mean best epoch count
    refit = d / "refit"
    assert (refit / "model.safetensors").is_file()
    epochs = int(round(np.mean(summary["best_epochs"]) + 1))
    assert len(pd.read_csv(refit / "metrics.csv")) == epochs
    assert json.loads((refit / "model.json").read_text())["threshold"] == summary["threshold"]
    assert isinstance(visionfit.load(refit), Predictor)


def test_fold_ensemble_equals_mean_of_fold_predictions(checked, imbalanced):
    d = checked["cv_dir"]
    paths = expand_inputs([imbalanced])[::7]
    ensemble = visionfit.load(d)
    assert isinstance(ensemble, Predictor) and len(ensemble.models) == 5
    probs, errors = ensemble.predict_proba(paths)
    folds = [visionfit.load(d / f"fold_{k}").predict_proba(paths)[0] for k in range(5)]
    np.testing.assert_allclose(probs, np.mean(folds, axis=0), atol=1e-6)
    assert not any(errors)
    with_tta, _ = ensemble.predict_proba(paths, tta=True)
    folds_tta = [
        visionfit.load(d / f"fold_{k}").predict_proba(paths, tta=True)[0] for k in range(5)
    ]
    np.testing.assert_allclose(with_tta, np.mean(folds_tta, axis=0), atol=1e-6)


def test_predict_cli_on_a_cv_run_uses_the_tuned_threshold(checked, imbalanced, tmp_path, run_cli):
    d = checked["cv_dir"]
    out = tmp_path / "preds.csv"
    code, _, err = run_cli(["predict", d, imbalanced, "--out", out])
    assert code == 0, err
    df = pd.read_csv(out)
    thr = json.loads((d / "model.json").read_text())["threshold"]
    expected = np.where(df["prob_positive"] >= thr, "positive", "negative")
    assert (df["pred"] == expected).all()


def test_predict_uses_the_bundles_threshold(checked, imbalanced, tmp_path):
    """Move a bundle's threshold and the predictions move with it."""
    fold = tmp_path / "fold"
    shutil.copytree(checked["cv_dir"] / "fold_0", fold, ignore=shutil.ignore_patterns("*.ckpt"))
    paths = expand_inputs([imbalanced])
    p = visionfit.load(fold).predict(paths)["prob_positive"]
    for thr in (float(np.quantile(p, 0.3)), float(np.quantile(p, 0.9))):
        meta = json.loads((fold / "model.json").read_text())
        meta["threshold"] = thr
        (fold / "model.json").write_text(json.dumps(meta))
        df = visionfit.load(fold).predict(paths)
        assert ((df["pred"] == "positive") == (df["prob_positive"] >= thr)).all()
        assert (df["pred"] == "positive").mean() == pytest.approx((p >= thr).mean())


def test_fit_refuses_a_cv_config_and_baseline_runs_predict(checked, imbalanced):
    cfg = visionfit.RunConfig.from_yaml(checked["cv_dir"] / "config.yaml")
    assert cfg.cv.folds == 5
    with pytest.raises(VisionfitError, match="cross_validate"):
        visionfit.fit(cfg)
    baseline = visionfit.load(checked["baseline_dir"])
    assert type(baseline).__name__ == "BaselinePredictor" and len(baseline.pipelines) == 5
    df = baseline.predict(expand_inputs([imbalanced])[::9])
    assert list(df.columns) == ["image", "pred", "prob_negative", "prob_positive"]


def test_imbalance_options_train_and_are_recorded(imbalanced, tmp_path, fast_config):
    cfg = fast_config(imbalanced, tmp_path, epochs=1).with_overrides(
        {"train.class_weights": "auto", "train.sampler": "balanced", "train.threshold": "f1"}
    )
    r = visionfit.fit(cfg, progress=False)
    assert "val_balanced_acc" in r.best_metrics and "val_acc" in r.best_metrics
    saved = visionfit.RunConfig.from_yaml(r.run_dir / "config.yaml")
    assert saved.train.class_weights == "auto" and saved.train.sampler == "balanced"
    meta = json.loads((r.run_dir / "model.json").read_text())
    summary = json.loads((r.run_dir / "summary.json").read_text())
    assert meta["threshold"] == summary["threshold"] and 0 <= meta["threshold"] <= 1
    from visionfit.runs.table import list_runs

    (row,) = list_runs(tmp_path).to_dict("records")
    assert row["kind"] == "single" and row["metric"] == "val_auroc" and row["epochs"] == 1
    assert row["score"] == pytest.approx(r.best_metrics["val_auroc"])


def test_same_seed_gives_the_same_folds_in_every_command(checked, imbalanced, tmp_path):
    """`baseline --folds 5` and `train --folds 5` agree without --folds-file (same --seed)."""
    from visionfit.config import BaselineConfig
    from visionfit.engine.baseline import run_baseline

    cfg = {"data": {"path": str(imbalanced)}, "model": "logreg", "runs_dir": str(tmp_path)}
    r = run_baseline(BaselineConfig.from_dict({**cfg, "n_jobs": 1}), progress=False)
    again = pd.read_csv(r.run_dir / "folds.csv")
    cv_folds = pd.read_csv(checked["cv_dir"] / "folds.csv")
    assert again[["image", "fold"]].equals(cv_folds[["image", "fold"]])
    with pytest.raises(VisionfitError, match="use 0 for one hold-out run"):
        visionfit.RunConfig.from_dict({"cv": {"folds": 1}})


def test_cli_fold_errors_leave_no_run(checked, imbalanced, tmp_path, run_cli):
    folds = checked["baseline_dir"] / "folds.csv"
    runs = tmp_path / "runs"
    for args, message in (
        (["--folds", "3", "--folds-file", folds], "--folds 3 but"),
        (["--folds", "5", "--cv", "group"], "--cv group needs a group column"),
        (["--folds", "5", "--threshold", "best"], "--threshold 'best'"),
    ):
        code, out, err = run_cli(["train", imbalanced, *args, "--runs-dir", runs])
        assert code == 2 and message in err and "Traceback" not in err + out, err
    assert not runs.exists() or not any(runs.iterdir())
