"""runs/: the typed summary (and every layout main wrote before it), run_kind, the runs table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from visionfit.errors import RunError
from visionfit.runs import SCHEMA_VERSION, RunSummary, model_kind, read_summary, run_kind
from visionfit.runs import files as run_files
from visionfit.runs.summary import write_summary
from visionfit.runs.table import list_runs

# summary.json as the three writers of main wrote it before schema_version (trimmed to the keys
# that matter, every key spelled as the old code spelled it)
OLD_SINGLE = {
    "task": "multiclass",
    "classes": ["a", "b", "c"],
    "monitor": "val_loss",
    "best_epoch": 1,
    "best_metrics": {"val_loss": 0.7, "val_acc": 0.8},
    "seconds": 3.5,
    "n_train": 20,
    "n_val": 6,
    "weights_source": "random init",
    "skipped_files": 1,
    "notes": ["1 unusable files left out (listed in skipped.csv)"],
    "tracking": {},
    "val_final": {},
    "postprocess": {},
    "val_score": {"metric": "acc", "value": 0.8, "on": "validation split"},
    "test": {},
    "n_test": 0,
    "run_dir": "/somewhere/simple_cnn-20260101-120000",
    "kind": "single",
    "layout": "folders",
    "ignored_files": 0,
    "epochs_run": 2,
    "threshold": None,
    "model_name": "simple_cnn",
    "main_metric": "val_acc",
    "score": 0.8,
    "cache": "memory",
}
OLD_CV = {
    "kind": "cv",
    "run_dir": "/somewhere/simple_cnn-cv-20260101-120000",
    "task": "binary",
    "classes": ["neg", "pos"],
    "folds": 3,
    "fold_kind": "stratified",
    "folds_file": None,
    "n_samples": 30,
    "monitor": "val_loss",
    "best_epochs": [1, 0, 1],
    "weights_source": "random init",
    "model_name": "simple_cnn",
    "main_metric": "val_auroc",
    "cv_mean": {"val_auroc": 0.75, "val_acc": 0.7},
    "cv_std": {"val_auroc": 0.05, "val_acc": 0.1},
    "oof": {"val_auroc": 0.74, "val_acc": 0.7},
    "per_fold": [{"fold": 0, "n": 10, "val_auroc": 0.7}],
    "threshold": 0.4,
    "refit_dir": None,
    "seconds": 12.0,
    "test": {},
    "ignored_files": 0,
    "notes": [],
}
OLD_SEG_CV = {
    **{k: OLD_CV[k] for k in ("kind", "run_dir", "folds", "n_samples", "seconds", "notes")},
    "task": "segment",
    "classes": ["background", "fg"],
    "arch": "unet",
    "encoder": None,
    "main_metric": "dice",
    "cv_mean": {"dice": 0.6, "iou": 0.5},
    "cv_std": {"dice": 0.1, "iou": 0.1},
    "oof": {"dice": 0.61, "iou": 0.5},
    "skipped": [{"file": "x.png", "reason": "truncated"}],
    "dice_definition": "mean over images",
}
OLD_BASELINE = {
    "kind": "baseline",
    "run_dir": "/somewhere/baseline-rf-20260101-120000",
    "task": "multiclass",
    "classes": ["a", "b"],
    "model": "rf",
    "features": "pixels",
    "size": 16,
    "pca": None,
    "n_features": 768,
    "folds": 3,
    "fold_kind": "stratified",
    "folds_file": None,
    "refit": False,
    "n_samples": 30,
    "main_metric": "val_acc",
    "cv_mean": {"val_acc": 0.6},
    "cv_std": {"val_acc": 0.05},
    "oof": {"val_acc": 0.6},
    "per_fold": [],
    "threshold": None,
    "threshold_method": "none",
    "oof_at_threshold": {},
    "seconds": 1.0,
    "ignored_files": 0,
    "notes": [],
}
# the oldest single-run layout: no kind, no main metric, no score
OLD_BARE = {"task": "binary", "monitor": "val_auroc", "best_metrics": {"val_auroc": 0.9}}


def _run(root: Path, name: str, summary: dict | None, cfg: dict | None = None) -> Path:
    d = root / name
    d.mkdir(parents=True)
    if summary is not None:
        (d / "summary.json").write_text(json.dumps(summary, indent=2))
    (d / "config.yaml").write_text(json.dumps(cfg or {"model": {"name": "simple_cnn"}}))
    return d


def test_schema_round_trip(tmp_path):
    s = RunSummary.of(
        "cv",
        task="binary",
        classes=["neg", "pos"],
        main_metric="val_auroc",
        folds=3,
        cv_mean={"val_auroc": 0.75},
        notes=["n"],
        skipped_files=2,
    )
    assert s.score == 0.75 and s.higher_is_better is True and s.extra == {"cv_mean": s["cv_mean"]}
    write_summary(tmp_path, s)
    raw = json.loads((tmp_path / "summary.json").read_text())
    assert raw["schema_version"] == SCHEMA_VERSION and raw["cv_mean"] == {"val_auroc": 0.75}
    assert read_summary(tmp_path) == s
    assert s.get("missing", 7) == 7 and "cv_mean" in s and "n_train" not in s


@pytest.mark.parametrize(
    ("raw", "kind", "metric", "score", "model"),
    [
        (OLD_SINGLE, "single", "val_acc", 0.8, "simple_cnn"),
        (OLD_CV, "cv", "val_auroc", 0.75, "simple_cnn"),
        (OLD_SEG_CV, "cv", "dice", 0.6, None),
        (OLD_BASELINE, "baseline", "val_acc", 0.6, "rf"),
        (OLD_BARE, "single", "val_auroc", 0.9, None),
    ],
)
def test_every_old_layout_reads(tmp_path, raw, kind, metric, score, model):
    d = _run(tmp_path, "r", raw)
    s = read_summary(d)
    assert (s.kind, s.main_metric, s.score, s.model_name) == (kind, metric, score, model)
    assert s.higher_is_better is True and s.schema_version == SCHEMA_VERSION
    assert isinstance(s.notes, list) and isinstance(s.test, dict)
    for key, value in raw.items():  # nothing the reports or README show is lost
        assert s.get(key) == value or (value is None and s.get(key) is None), key
    again = RunSummary.from_json(s.to_json())
    assert again == s


def test_seg_cv_counts_its_skipped_list(tmp_path):
    assert read_summary(_run(tmp_path, "r", OLD_SEG_CV)).skipped_files == 1


def test_damaged_and_newer_summaries_are_clear_errors(tmp_path):
    d = _run(tmp_path, "bad", None)
    with pytest.raises(RunError, match="no summary.json"):
        read_summary(d)
    (d / "summary.json").write_text("{not json")
    with pytest.raises(RunError, match="not valid JSON"):
        read_summary(d)
    (d / "summary.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(RunError, match="upgrade visionfit"):
        read_summary(d)


def test_run_kind_of_every_kind(tmp_path):
    assert run_kind(tmp_path / "absent") == "none"
    assert run_kind(_run(tmp_path, "single", OLD_SINGLE)) == "single"
    assert run_kind(_run(tmp_path, "bare", OLD_BARE)) == "single"
    assert run_kind(_run(tmp_path, "cv", OLD_CV)) == "cv"
    base = _run(tmp_path, "baseline", OLD_BASELINE)
    assert run_kind(base) == "baseline"
    assert model_kind(base) == "baseline"  # too old to keep its pipelines: still a baseline
    unfinished = _run(tmp_path, "unfinished", None)
    assert run_kind(unfinished) == "unfinished" and model_kind(unfinished) is None

    auto = tmp_path / "auto"
    auto.mkdir()
    (auto / "auto.json").write_text("{}")
    assert run_kind(auto) == "auto"
    tune = tmp_path / "tune-s"
    tune.mkdir()
    (tune / "study.db").write_bytes(b"")
    assert run_kind(tune) == "tune"
    trial = _run(tmp_path, "trial", None)
    (trial / "folds.csv").write_text("image,label,fold\n")
    (trial / "cv.csv").write_text("fold\n")
    assert run_kind(trial) == "trial"

    ens = _run(tmp_path, "ensemble", None)
    run_files.write_model_meta(ens, {"format": "visionfit-ensemble", "kind": "cv"})
    assert run_kind(ens) == "ensemble" and model_kind(ens) == "ensemble"
    fold = _run(tmp_path, "fold_0", None)
    run_files.write_model_meta(fold, {"format": "visionfit-bundle", "arch": "simple_cnn"})
    assert run_kind(fold) == "member" and model_kind(fold) == "bundle"
    refit = _run(tmp_path, "refit", None)
    run_files.write_model_meta(refit, {"format": "visionfit-baseline", "kind": "baseline"})
    assert run_kind(refit) == "member" and model_kind(refit) == "baseline"


def test_runs_table_reads_old_layouts(tmp_path):
    _run(tmp_path, "a-20260101-120000", OLD_SINGLE)
    _run(tmp_path, "b-20260101-120001", OLD_CV)
    _run(tmp_path, "c-20260101-120002", OLD_BASELINE, {"model": "rf", "size": 16})
    _run(tmp_path, "d-20260101-120003", None)  # unfinished: not listed
    loss = RunSummary.of("single", main_metric="val_loss", score=0.1, higher_is_better=False)
    write_summary(_run(tmp_path, "e-20260101-120004", None), loss)
    df = list_runs(tmp_path, sort="score")
    # best first, each by its own direction: a loss of 0.1 is not better than an accuracy of 0.6
    assert df["run"].str[0].tolist() == ["a", "b", "c", "e"]
    assert df["metric"].tolist() == ["val_acc", "val_auroc", "val_acc", "val_loss"]
    assert df.loc[df["kind"] == "cv", "std"].item() == 0.05
    assert df.loc[df["kind"] == "baseline", "model"].item() == "rf (pixels)"


def test_runs_table_needs_no_task_package(tmp_path):
    _run(tmp_path, "a-20260101-120000", OLD_SINGLE)
    code = (
        "import sys; from visionfit.runs.table import list_runs; "
        f"df = list_runs({str(tmp_path)!r}); assert len(df) == 1, df; "
        "bad = sorted(m for m in sys.modules if m.startswith(('visionfit.tasks', "
        "'visionfit.engine', 'visionfit.inference', 'torch')));"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_runs_table_sorts_by_the_lower_bound_and_reads_summaries_without_an_interval(tmp_path):
    def interval(low, high):
        return {"low": low, "high": high, "level": 0.95, "n": 50, "resamples": 1000,
                "unit": "images"}  # fmt: skip

    narrow = RunSummary.of(
        "single", main_metric="val_acc", score=0.80, interval=interval(0.75, 0.85)
    )
    wide = RunSummary.of("single", main_metric="val_acc", score=0.82, interval=interval(0.6, 0.95))
    write_summary(_run(tmp_path, "narrow-20260101-120000", None), narrow)
    write_summary(_run(tmp_path, "wide-20260101-120001", None), wide)
    _run(tmp_path, "old-20260101-120002", OLD_SINGLE)  # written before intervals existed
    by_score = list_runs(tmp_path, sort="score")
    assert by_score["run"].str.split("-").str[0].tolist() == ["wide", "narrow", "old"]
    by_low = list_runs(tmp_path, sort="low")
    assert by_low["run"].str.split("-").str[0].tolist() == ["narrow", "wide", "old"]
    assert by_low["low"].tolist()[:2] == [0.75, 0.6] and pd.isna(by_low["low"].iloc[2])
    assert read_summary(tmp_path / "narrow-20260101-120000").get("interval")["high"] == 0.85
    assert read_summary(tmp_path / "old-20260101-120002").get("interval") is None
