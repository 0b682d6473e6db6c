"""Calibration: ECE in summary.json, the console and report.html; `--calibrate temperature` fits
one T stored in model.json, which predict (torch and ONNX) and export apply."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def calibrated(jobs, vf, ws, shapes, binary, h):
    """A single run with a test split and a 2-fold CV run with a refit, both temperature-scaled."""
    cwd = ws / "calibration"
    single = ("train", shapes, "--calibrate", "temperature", "--test-fraction", "0.2", *h.TINY)
    cv = ("train", binary, "--folds", "2", "--refit", "--set", "train.calibrate=temperature")
    jobs.submit("calibration-single", lambda: vf(*single, cwd=cwd))
    jobs.submit("calibration-cv", lambda: vf(*cv, *h.TINY, cwd=cwd / "cv"))
    return lambda key: jobs.get(f"calibration-{key}")


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def _probs(h, csv_path: Path, classes: list[str]) -> np.ndarray:
    rows = h.read_csv(csv_path)
    return np.array([[float(r[f"prob_{c}"]) for c in classes] for r in rows])


def test_single_run_records_ece_and_temperature(calibrated, h):
    res = calibrated("single").ok()
    run = res.run_dir("simple_cnn-2*")
    summary, meta = _json(run / "summary.json"), _json(run / "model.json")
    assert 0 <= summary["ece"] <= 1 and 0 <= summary["ece_calibrated"] <= 1
    assert summary["calibration"]["measured_on"] == "validation"
    assert summary["calibration"]["bins"] == 15
    t = summary["temperature"]
    assert 0.05 <= t <= 20 and meta["temperature"] == pytest.approx(t)
    # fitting T never makes the validation NLL worse
    assert summary["calibration"]["nll_calibrated"] <= summary["calibration"]["nll"] + 1e-9
    # the test split, scored once with the calibrated model, has its own ECE
    test = _json(run / "test_scores.json")
    assert 0 <= test["scores"]["ece"] <= 1
    out = res.out.replace("\n", " ")
    assert "calibration (validation images, 15 bins): ECE" in out and "temperature T =" in out
    report = (run / "report.html").read_text()
    assert 'id="calibration"' in report and "Temperature scaling" in report


def test_predict_and_onnx_apply_the_temperature(calibrated, vf, h, ws, shapes):
    """predict's probabilities are softmax(logits / T): the same run without the temperature key
    (an old bundle: T = 1) gives softmax(logits), and re-scaling those by T gives predict's. The
    exported ONNX graph gives the calibrated ones too."""
    run = calibrated("single").ok().run_dir("simple_cnn-2*")
    meta = _json(run / "model.json")
    classes, t = meta["classes"], meta["temperature"]
    images = sorted(str(p) for p in Path(shapes).glob("*/*.png"))[:9]
    cwd = ws / "calibration"
    vf("predict", run, *images, "--out", cwd / "calibrated.csv", cwd=cwd).ok()
    vf("predict", run, *images, "--backend", "onnx", "--out", cwd / "onnx.csv", cwd=cwd).ok()
    old = cwd / "no-temperature"
    shutil.copytree(run, old, ignore=shutil.ignore_patterns("export", "checkpoints"))
    (old / "model.json").write_text(
        json.dumps({k: v for k, v in meta.items() if k != "temperature"})
    )
    vf("predict", old, *images, "--out", cwd / "raw.csv", cwd=cwd).ok()
    calibrated_p = _probs(h, cwd / "calibrated.csv", classes)
    raw = _probs(h, cwd / "raw.csv", classes)
    logits = np.log(np.clip(raw, 1e-12, 1))  # the logits up to a per-image constant
    z = logits / t
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(calibrated_p, expected, atol=1e-4)
    np.testing.assert_allclose(_probs(h, cwd / "onnx.csv", classes), calibrated_p, atol=1e-4)
    info = _json(run / "export" / "onnx" / "export.json")
    assert info["temperature"] == pytest.approx(t)
    assert info["calibration"].startswith("temperature scaling inside the graph: softmax")


def test_cv_fits_one_temperature_on_out_of_fold_probabilities(calibrated, h):
    res = calibrated("cv").ok()
    run = res.run_dir("simple_cnn-cv-*")
    summary = _json(run / "summary.json")
    assert summary["calibration"]["measured_on"] == "out-of-fold"
    t = summary["temperature"]
    assert _json(run / "model.json")["temperature"] == pytest.approx(t)
    assert _json(run / "refit" / "model.json")["temperature"] == pytest.approx(t)
    assert 0 <= summary["ece"] <= 1 and 0 <= summary["ece_calibrated"] <= 1
    assert "calibration (out-of-fold images, 15 bins)" in res.out.replace("\n", " ")


def test_unknown_calibration_method_is_one_line(vf, h, ws, shapes):
    res = vf("train", shapes, "--calibrate", "platt", *h.TINY, cwd=ws / "calibration")
    assert "calibrate" in h.one_line_error(res)
