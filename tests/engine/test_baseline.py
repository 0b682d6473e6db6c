"""The baseline: its features, bad images, and the fitted pipelines it keeps (skops) to predict
with like any other run."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import visionfit
from visionfit.cli import main
from visionfit.config import BaselineConfig
from visionfit.data.io import decode_image
from visionfit.data.synthetic import make_multilabel_dataset, make_shapes_dataset
from visionfit.engine.baseline import image_features, run_baseline
from visionfit.errors import RunError
from visionfit.inference.baseline import BaselinePredictor
from visionfit.inference.baseline_store import save_pipeline
from visionfit.inference.predict import expand_inputs
from visionfit.runs.table import list_runs
from visionfit.tasks.classification import baseline as classification_baseline


def test_features_pixels_and_hog(shapes_dir):
    path = str(next((shapes_dir / "circle").glob("*.png")))
    px = image_features(path, 16, "pixels", 3)
    assert px.shape == (16 * 16 * 3,) and 0 <= px.min() and px.max() <= 1
    gray = image_features(path, 16, "pixels", 1)
    assert gray.shape == (16 * 16,)
    hog = image_features(path, 32, "hog", 3)
    assert hog.ndim == 1 and hog.size > 0 and np.isfinite(hog).all()


def test_unreadable_image_is_skipped_and_listed_like_in_training(tmp_path):
    data = make_shapes_dataset(tmp_path / "d", n_per_class=6, classes=("circle", "square"))
    (data / "circle" / "broken.png").write_bytes(b"not an image")
    runs = tmp_path / "runs"
    cfg = BaselineConfig.from_dict(
        {"data": {"path": str(data)}, "cv": {"folds": 3}, "n_jobs": 1, "runs_dir": str(runs)}
    )
    result = run_baseline(cfg, progress=False)
    skipped = pd.read_csv(result.run_dir / "skipped.csv")
    assert list(skipped["reason"]) == ["not an image"]
    assert skipped["image"].iloc[0].endswith("broken.png")
    oof = pd.read_csv(result.run_dir / "oof.csv")
    assert len(oof) == 12 and not oof["image"].str.endswith("broken.png").any()


# --- a baseline run keeps its fitted pipelines (skops) and predicts like any other run ---------


@pytest.fixture(scope="module")
def binary_run(binary_dir, tmp_path_factory) -> Path:
    """rf (30 trees, not 300: seconds) on 16 px HOG, 3 folds and a refit, 200 circles / squares."""
    cfg = BaselineConfig.from_dict(
        {
            "data": {"path": str(binary_dir)},
            "cv": {"folds": 3, "refit": True},
            "size": 16,
            "features": "hog",
            "n_jobs": 1,
            "runs_dir": str(tmp_path_factory.mktemp("baseline_runs")),
        }
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(classification_baseline, "RandomForestClassifier", _few_trees)
        return run_baseline(cfg, progress=False).run_dir


def _few_trees(**kw) -> RandomForestClassifier:
    return RandomForestClassifier(**{**kw, "n_estimators": 30})


def _prob_cols(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("prob_")]


def test_run_is_self_describing(binary_run, binary_dir):
    meta = json.loads((binary_run / "model.json").read_text())
    assert meta["kind"] == "baseline" and meta["format"] == "visionfit-baseline"
    assert meta["members"] == ["fold_0", "fold_1", "fold_2"] and meta["refit"] == "refit"
    assert meta["task"] == "binary" and meta["classes"] == ["circle", "square"]
    assert (meta["model"], meta["features"], meta["size"], meta["in_chans"]) == ("rf", "hog", 16, 3)
    image = str(next((binary_dir / "circle").glob("*.png")))
    assert meta["n_features"] == len(image_features(image, 16, "hog", 3)) and meta["max_pixels"] > 0
    summary = json.loads((binary_run / "summary.json").read_text())
    assert meta["threshold"] == summary["threshold"]
    for member in (*meta["members"], "refit"):
        assert (binary_run / member / "model.skops").is_file()
    assert not list(binary_run.rglob("*.pkl")) and not list(binary_run.rglob("*.joblib"))


def test_each_fold_member_reproduces_its_oof_rows(binary_run):
    oof = pd.read_csv(binary_run / "oof.csv")
    for k in range(3):
        member = BaselinePredictor.from_run_dir(binary_run, member=f"fold_{k}")
        rows = oof[oof["fold"] == k]
        probs, errors = member.predict_proba(rows["image"].tolist(), batch_size=17)
        assert not any(errors)
        np.testing.assert_allclose(probs, rows[_prob_cols(oof)].to_numpy(), atol=1e-6)
        df = member.predict(rows["image"].tolist())
        assert "error" not in df.columns
        assert (df["pred"].to_numpy() == rows["pred"].to_numpy()).all()


def test_load_gives_the_fold_ensemble_and_it_beats_chance(binary_run, tmp_path):
    new = make_shapes_dataset(
        tmp_path / "new", n_per_class=15, classes=("circle", "square"), seed=7
    )
    paths = expand_inputs([new])
    ens = visionfit.load(binary_run)
    assert isinstance(ens, BaselinePredictor) and ens.task == "binary"
    assert ens.classes == ["circle", "square"] and ens.run_dir == binary_run
    df = ens.predict(paths, workers=2)
    assert list(df.columns) == ["image", "pred", "prob_circle", "prob_square"]
    truth = [Path(p).parent.name for p in paths]
    assert (df["pred"] == truth).mean() > 0.8  # chance: 0.5
    folds = [
        BaselinePredictor.from_run_dir(binary_run, member=f"fold_{k}").predict_proba(paths)[0]
        for k in range(3)
    ]
    np.testing.assert_allclose(df[_prob_cols(df)].to_numpy(), np.mean(folds, axis=0), atol=1e-12)
    thr = ens.meta["threshold"]
    assert ((df["pred"] == "square") == (df["prob_square"] >= thr)).all()
    refit = visionfit.load(binary_run / "refit")
    assert isinstance(refit, BaselinePredictor) and len(refit.pipelines) == 1
    assert (refit.predict(paths)["pred"] == truth).mean() > 0.8


def test_tta_averages_the_image_and_its_mirror(binary_run, binary_dir):
    p = visionfit.load(binary_run)
    arr = decode_image(next((binary_dir / "circle").glob("*.png")))
    flipped = np.ascontiguousarray(arr[:, ::-1])
    with_tta = p.predict_proba([arr], tta=True)[0]
    plain = p.predict_proba([arr])[0] + p.predict_proba([flipped])[0]
    np.testing.assert_allclose(with_tta, plain / 2, atol=1e-12)


def test_unreadable_input_gets_an_error_row(binary_run, binary_dir, tmp_path):
    good = next((binary_dir / "square").glob("*.png"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    df = visionfit.load(binary_run).predict([good, broken, good])
    assert list(df["error"]) == ["", "not an image", ""]
    assert df.loc[1, "pred"] == "" and df.loc[[1], _prob_cols(df)].isna().all(axis=None)
    assert df.loc[0, "pred"] == df.loc[2, "pred"] and np.isfinite(df.loc[0, "prob_square"])


def _copy_run(run: Path, tmp_path: Path) -> Path:
    dst = tmp_path / run.name
    shutil.copytree(run, dst)
    return dst


def test_loading_refuses_tampered_or_foreign_files(binary_run, tmp_path):
    run = _copy_run(binary_run, tmp_path)
    evil = Pipeline([("run", FunctionTransformer(func=os.system))])
    (run / "fold_1" / "model.skops").write_bytes(sio.dumps(evil))
    with pytest.raises(RunError, match=r"refusing to load .*fold_1.*model\.skops.*system"):
        visionfit.load(run)
    (run / "fold_1" / "model.skops").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(RunError, match="not a readable skops file"):
        visionfit.load(run)
    (run / "fold_1" / "model.skops").unlink()
    with pytest.raises(RunError, match="missing.*fold_1"):
        visionfit.load(run)
    # fold_0 alone still loads; unknown members are named with the choices
    assert len(BaselinePredictor.from_run_dir(run, member="fold_0").pipelines) == 1
    with pytest.raises(RunError, match="no member 'fold_9'.*fold_0, fold_1, fold_2, refit"):
        BaselinePredictor.from_run_dir(run, member="fold_9")


def test_saving_refuses_a_pipeline_it_could_not_load_back(tmp_path):
    evil = Pipeline([("run", FunctionTransformer(func=os.system))])
    with pytest.raises(RunError, match="outside visionfit's trusted list"):
        save_pipeline(tmp_path / "model.skops", evil, "logreg")
    assert not (tmp_path / "model.skops").exists()


def test_a_run_from_before_models_were_kept_says_so(binary_run, tmp_path):
    run = _copy_run(binary_run, tmp_path)
    (run / "model.json").unlink()
    with pytest.raises(RunError, match="before baseline runs kept their models.*rerun"):
        visionfit.load(run)


@pytest.mark.parametrize("model", ["svm", "knn", "logreg"])
def test_every_model_saves_loads_and_reproduces_oof(model, shapes_dir, tmp_path):
    """svm (calibration objects), knn with PCA (a KD-tree) and logreg, multi-class."""
    images = sorted(shapes_dir.rglob("*.png"))[::4]  # 45 images, 15 per class
    csv = tmp_path / "few.csv"
    pd.DataFrame({"image": images, "label": [p.parent.name for p in images]}).to_csv(csv)
    cfg = BaselineConfig.from_dict(
        {
            "data": {"csv": str(csv)},
            "cv": {"folds": 3},
            "model": model,
            "size": 16,
            "pca": 5 if model == "knn" else None,
            "n_jobs": 1,
            "runs_dir": str(tmp_path / "runs"),
        }
    )
    run = run_baseline(cfg, progress=False).run_dir
    oof = pd.read_csv(run / "oof.csv")
    for k in range(3):
        rows = oof[oof["fold"] == k]
        df = BaselinePredictor.from_run_dir(run, member=f"fold_{k}").predict(rows["image"])
        np.testing.assert_allclose(df[_prob_cols(df)], rows[_prob_cols(oof)], atol=1e-6)
        assert (df["pred"].to_numpy() == rows["pred"].to_numpy()).all()


def test_multilabel_members_reproduce_oof_with_per_label_thresholds(tmp_path):
    csv = make_multilabel_dataset(tmp_path / "ml", n=45, size=32, seed=5)
    cfg = BaselineConfig.from_dict(
        {
            "data": {"csv": str(csv), "label_cols": ["circle", "square", "triangle"]},
            "cv": {"folds": 3},
            "model": "logreg",
            "size": 16,
            "n_jobs": 1,
            "runs_dir": str(tmp_path / "runs"),
        }
    )
    run = run_baseline(cfg, progress=False).run_dir
    assert len(json.loads((run / "model.json").read_text())["threshold"]) == 3
    oof = pd.read_csv(run / "oof.csv", keep_default_na=False)
    for k in range(3):
        rows = oof[oof["fold"] == k]
        df = BaselinePredictor.from_run_dir(run, member=f"fold_{k}").predict(rows["image"])
        np.testing.assert_allclose(df[_prob_cols(df)], rows[_prob_cols(oof)], atol=1e-6)
        assert (df["pred"].to_numpy() == rows["pred"].to_numpy()).all()


def test_cli_predict_and_runs_on_a_baseline_run(binary_run, binary_dir, tmp_path, monkeypatch):
    out = tmp_path / "preds.csv"
    folder = binary_dir / "circle"
    args = ["predict", binary_run, folder, "--out", out]
    monkeypatch.setattr(sys, "argv", ["visionfit", *map(str, args)])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    df = pd.read_csv(out)
    assert len(df) == len(list(folder.glob("*.png"))) and (df["pred"] == "circle").mean() > 0.8
    assert list(df.columns) == ["image", "pred", "prob_circle", "prob_square"]
    runs = list_runs(binary_run.parent)
    row = runs[runs["run"] == binary_run.name].iloc[0]
    assert row["kind"] == "baseline" and row["model"] == "rf (hog)" and row["folds"] == 3
