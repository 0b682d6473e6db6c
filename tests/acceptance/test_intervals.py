"""README "How far to trust a score: confidence intervals": summary.json's `interval` /
`test_interval`, the console's `acc 0.941 [0.936, 0.946]` line, `--bootstrap N`, grouped
resampling with `--group-col`, `visionfit runs --sort low`, and a single run's
val_predictions.csv."""

from __future__ import annotations

import csv
import json
import shutil

import pandas as pd
import pytest

from visionfit.data.synthetic import make_shapes_dataset

TINY = ("--model", "simple_cnn", "--img-size", "32", "--epochs", "1", "--batch-size", "8")


@pytest.fixture(scope="module")
def grouped_csv(data):
    """train.csv (file, label, patient) + images/: 2 classes, 24 patients of 2 images each."""
    root = data / "grouped"
    src = make_shapes_dataset(data / "grouped-src", n_per_class=24, classes=("circle", "square"))
    (root / "images").mkdir(parents=True)
    rows = []
    for i, path in enumerate(sorted(src.glob("*/*.png"))):
        shutil.copy(path, root / "images" / f"img{i:03d}.png")
        rows.append((f"img{i:03d}.png", path.parent.name, f"p{i // 2:02d}"))
    with open(root / "train.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "patient"])
        w.writerows(rows)
    return root


@pytest.fixture(scope="module")
def interval_runs(jobs, vf, ws, shapes, grouped_csv):
    cwd = ws / "intervals"

    def single_then_evaluate():
        res = vf("train", shapes, *TINY, "--test-fraction", "0.2", cwd=cwd)
        run = res.ok().run_dir("simple_cnn-2*")
        return res, vf("evaluate", run, shapes, "--out", "eval", cwd=cwd)

    jobs.submit("intervals-single", single_then_evaluate)
    jobs.submit(
        "intervals-cv",
        lambda: vf("train", "--csv", grouped_csv / "train.csv", "--root", grouped_csv / "images",
                   "--image-col", "file", "--label-col", "label", "--group-col", "patient",
                   "--folds", "2", "--bootstrap", "200", *TINY, cwd=cwd),
    )  # fmt: skip
    return cwd


def _summary(run):
    return json.loads((run / "summary.json").read_text())


def _check_interval(iv: dict, score: float, resamples: int, unit: str, n: int):
    assert iv["low"] <= score <= iv["high"], iv
    assert 0 <= iv["low"] <= iv["high"] <= 1
    assert iv["level"] == 0.95 and iv["unit"] == unit and iv["n"] == n
    assert iv["resamples"] + iv.get("dropped", 0) == resamples


def test_single_run_interval_on_validation_and_test(jobs, interval_runs):
    """README: visionfit train DATA --model simple_cnn --epochs 1 --test-fraction 0.2"""
    res = jobs.get("intervals-single")[0].ok()
    run = res.run_dir("simple_cnn-2*")
    s = _summary(run)
    iv, tiv = s["interval"], s["test_interval"]
    # the headline (multi-class accuracy) and its interval, from val_predictions.csv
    assert iv["metric"] == "acc" and iv["score"] == pytest.approx(s["score"], abs=1e-6)
    _check_interval(iv, s["score"], 1000, "images", s["n_val"])
    _check_interval(tiv, s["test"]["score"], 1000, "images", s["n_test"])
    assert iv["of"] == "validation split" and tiv["of"] == "test split"
    preds = pd.read_csv(run / "val_predictions.csv")
    assert len(preds) == s["n_val"]
    assert list(preds.columns) == ["image", "label", "pred", "prob_circle", "prob_square",
                                   "prob_triangle"]  # fmt: skip
    assert (preds["label"] == preds["pred"]).mean() == pytest.approx(s["score"], abs=1e-6)
    # the console: `acc 0.333 [0.083, 0.583] (95 % bootstrap interval, ...)`
    line = f"acc {iv['score']:.3f} [{iv['low']:.3f}, {iv['high']:.3f}] (95 % bootstrap interval"
    assert line in res.out, res.tail()
    assert "of the test split" in res.out
    # the report's overview states it and what it does not measure
    report = (run / "report.html").read_text()
    assert f"[{iv['low']:.3f}, {iv['high']:.3f}]" in report
    assert "not the variation from training again" in report


def test_evaluate_gives_the_interval_of_its_score(jobs, interval_runs):
    """README: visionfit evaluate runs/simple_cnn-<stamp> DATA --out eval   (metrics.json's
    interval)"""
    res = jobs.get("intervals-single")[1].ok()
    metrics = json.loads((interval_runs / "eval" / "metrics.json").read_text())
    iv = metrics["interval"]
    assert iv["metric"] == "acc" and iv["score"] == pytest.approx(metrics["score"])
    _check_interval(iv, metrics["score"], 1000, "images", metrics["n_images"])
    assert f"acc {iv['score']:.3f} [{iv['low']:.3f}, {iv['high']:.3f}]" in res.out


def test_cv_interval_resamples_groups(jobs, interval_runs):
    """README: visionfit train --csv train.csv --root images/ --image-col file --label-col label
    --group-col patient --folds 2 --bootstrap 200"""
    res = jobs.get("intervals-cv").ok()
    run = res.run_dir("simple_cnn-cv-*")
    s = _summary(run)
    iv = s["interval"]
    oof_auc = s["oof"]["val_auroc"]
    assert iv["metric"] == "auroc" and iv["score"] == pytest.approx(oof_auc)
    assert iv["of"] == "pooled out-of-fold predictions"
    _check_interval(iv, oof_auc, 200, "groups", 24)  # 48 images of 24 patients
    assert "test_interval" not in s  # no test split: no test interval
    assert f"[{iv['low']:.3f}, {iv['high']:.3f}]" in res.out
    assert "of the 24 groups of the pooled out-of-fold predictions" in res.out


def test_runs_sorted_by_the_lower_bound(jobs, interval_runs, vf):
    """README: visionfit runs --sort low"""
    jobs.get("intervals-single")[0].ok()
    jobs.get("intervals-cv").ok()
    res = vf("runs", "--sort", "low", "--csv", "runs.csv", cwd=interval_runs).ok()
    table = pd.read_csv(interval_runs / "runs.csv")
    assert table["low"].notna().all()
    assert list(table["low"]) == sorted(table["low"], reverse=True)
    assert "interval" in res.out
