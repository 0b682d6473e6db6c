"""README "Image regression": every shell example as a subprocess of the installed `visionfit`
on a generated CSV (60 images of 32 px, `y` a bright disc's radius in pixels, learnable from
the pixels), sizes scaled down (2 epochs, 2 folds, 2 trials, a 90 s budget). One trained run
is shared by predict, serve, export and report; R² is recomputed here with scikit-learn from
`visionfit predict` on the validation images of `splits.csv`, as the issue's checker does."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageDraw
from sklearn.metrics import r2_score

DATA = ("--csv", "t.csv", "--task", "regress", "--label-col", "y")
TINY = ("--model", "simple_cnn", "--img-size", "32", "--batch-size", "8")
TOL = 1e-3


def make_discs(root: Path, n: int = 60, seed: int = 0) -> Path:
    """root/images/img_<i>.png (a bright disc on dark noise) + root/t.csv (image, y): y is the
    disc's radius, 3..13 px."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows = ["image,y"]
    for i in range(n):
        r = float(rng.uniform(3, 13))
        img = Image.fromarray(rng.integers(0, 40, (32, 32, 3), dtype=np.uint8))
        cx, cy = rng.uniform(14, 18, 2)
        ImageDraw.Draw(img).ellipse([cx - r, cy - r, cx + r, cy + r], fill=(230, 230, 230))
        img.save(root / "images" / f"img_{i:03d}.png")
        rows.append(f"images/img_{i:03d}.png,{r:.4f}")
    (root / "t.csv").write_text("\n".join(rows) + "\n")
    return root


def by_name(rows: list[dict], col: str) -> dict[str, float]:
    return {Path(r["image"]).name: float(r[col]) for r in rows}


@pytest.fixture(scope="module")
def reg(jobs, vf, ws):
    """The module's commands, queued at once, each group in its own copy of t.csv + images/."""
    src = make_discs(ws / "data" / "discs")

    def folder(name: str) -> Path:
        cwd = ws / "regress" / name
        shutil.copytree(src, cwd)
        return cwd

    cwd = {k: folder(k) for k in ("single", "folds", "auto", "tune", "baseline", "check")}

    def single():
        """train, then predict / export / report on that run (README: RUN)."""
        train = vf("train", *DATA, *TINY, "--epochs", "2", cwd=cwd["single"]).ok()
        run = train.run_dir("simple_cnn-2*")
        pred = vf("predict", run, "images/", "--out", "preds.csv", cwd=cwd["single"])
        export = vf("export", run, "--format", "onnx", cwd=cwd["single"])
        report = vf("report", run, cwd=cwd["single"])
        return dict(train=train, run=run, predict=pred, export=export, report=report)

    def folds():
        train = vf("train", *DATA, *TINY, "--epochs", "2", "--folds", "2", cwd=cwd["folds"]).ok()
        run = train.run_dir("simple_cnn-cv-*")
        pred = vf("predict", run, "images/", "--out", "preds.csv", cwd=cwd["folds"])
        return dict(train=train, run=run, predict=pred)

    def auto():
        res = vf("auto", *DATA, "--budget", "90s", "--candidates", "simple_cnn", cwd=cwd["auto"])
        best = next((cwd["auto"] / "runs").glob("auto-*/best"), None)
        pred = None
        if res.rc == 0 and best is not None and (best / "model.json").is_file():
            pred = vf("predict", best, "images/", "--out", "preds.csv", cwd=cwd["auto"])
        return dict(auto=res, best=best, predict=pred)

    def check():
        ok = vf("check", *DATA, "--out", "report.json", cwd=cwd["check"])
        rows = (src / "t.csv").read_text().splitlines()
        rows[3] = rows[3].split(",")[0] + ",n/a"  # CSV line 4
        (cwd["check"] / "bad.csv").write_text("\n".join(rows) + "\n")
        bad = vf("check", "--csv", "bad.csv", "--task", "regress", "--label-col", "y",
                 cwd=cwd["check"])  # fmt: skip
        return ok, bad

    jobs.submit("reg-auto", auto)  # the longest first: the two workers end together
    jobs.submit("reg-single", single)
    jobs.submit("reg-folds", folds)
    jobs.submit(
        "reg-tune",
        lambda: vf("tune", *DATA, *TINY, "--epochs", "1", "--trials", "2", cwd=cwd["tune"]),
    )
    jobs.submit(
        "reg-baseline",
        lambda: (
            vf("baseline", *DATA, "--folds", "2", "--size", "16", "--jobs", "1",
               cwd=cwd["baseline"]),
            vf("baseline", *DATA, "--model", "svm", cwd=cwd["baseline"]),
        ),
    )  # fmt: skip
    jobs.submit("reg-check", check)
    return jobs


def test_check_reports_the_target_and_names_a_bad_line(reg):
    """README: visionfit check --csv t.csv --task regress --label-col y
    (the scan, plus the target's n/mean/std/min/max)"""
    ok, bad = reg.get("reg-check")
    ok.ok()
    assert "60 usable" in ok.out
    section = json.loads((ok.cwd / "report.json").read_text())["sections"]["regression"]
    assert section["target"] == "y" and section["n"] == 60
    assert 3 <= section["min"] < section["mean"] < section["max"] <= 13 and section["std"] > 0
    assert bad.rc != 0 and "line 4" in bad.out + bad.err, bad.tail()
    assert "Traceback" not in bad.out + bad.err


def test_check_prints_the_target_summary(reg):
    """README: the scan, plus the target's n/mean/std/min/max -- on the console"""
    ok, _ = reg.get("reg-check")
    ok.ok()
    assert "mean" in ok.out and "std" in ok.out and "max" in ok.out, ok.out
    assert "kinds of mask" not in ok.out and "60 images with a numeric target" in ok.out, ok.out


def test_train_writes_a_regression_run(reg, h):
    """README: visionfit train --csv t.csv --task regress --label-col y --model simple_cnn
    --img-size 64   (32 px, 2 epochs here)"""
    res = reg.get("reg-single")
    run = res["run"]
    h.assert_run_dir(run)
    assert "r2" in res["train"].out and "target 'y'" in res["train"].out
    assert json.loads((run / "model.json").read_text())["task"] == "regress"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["task"] == "regress" and summary["target"] == "y"
    assert summary["main_metric"] == "r2" and summary["monitor"] == "val_rmse"
    assert summary["n_train"] + summary["n_val"] == 60
    assert len(h.read_csv(run / "metrics.csv")) == 2


def test_predict_writes_image_and_prediction(reg, h):
    """README: visionfit predict runs/simple_cnn-<stamp> images/ --out preds.csv
    (image, prediction[, error])"""
    res = reg.get("reg-single")
    res["predict"].ok()
    rows = h.read_csv(res["predict"].cwd / "preds.csv")
    assert len(rows) == 60 and list(rows[0]) == ["image", "prediction"]
    assert all(math.isfinite(float(r["prediction"])) for r in rows)
    assert "predictions of 'y'" in res["predict"].out + res["predict"].err


def test_r2_of_predict_on_the_validation_images_agrees_with_the_run(reg, h):
    """The checker's R²: `visionfit predict` on the validation images of splits.csv, scored
    with scikit-learn, against summary.json and report.html."""
    res = reg.get("reg-single")
    run = res["run"]
    res["predict"].ok()
    pred = by_name(h.read_csv(res["predict"].cwd / "preds.csv"), "prediction")
    true = by_name(h.read_csv(res["predict"].cwd / "t.csv"), "y")
    val = [Path(r["image"]).name for r in h.read_csv(run / "splits.csv") if r["split"] == "val"]
    assert len(val) == 12
    mine = r2_score([true[n] for n in val], [pred[n] for n in val])

    summary = json.loads((run / "summary.json").read_text())
    assert summary["val_score"]["metric"] == "r2"
    assert abs(summary["val_score"]["value"] - mine) < TOL, (summary["val_score"], mine)
    assert abs(summary["val_final"]["r2"] - mine) < TOL, (summary["val_final"], mine)
    assert abs(summary["best_metrics"]["val_r2"] - mine) < TOL, (summary["best_metrics"], mine)

    res["report"].ok()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (run / "report.html").read_text()))
    shown = re.search(r"val r2 \([^)]*\) (-?\d+\.\d+)", text)
    assert shown, text[:2000]
    assert abs(float(shown.group(1)) - mine) < TOL, (shown.group(0), mine)


def test_train_folds_writes_oof_and_predicts_with_the_ensemble(reg, h):
    """README: visionfit train --csv t.csv --task regress --label-col y --folds 5
    (oof.csv, cv_summary.csv, fold ensemble; 2 folds here)"""
    res = reg.get("reg-folds")
    run = res["run"]
    oof = h.read_csv(run / "oof.csv")
    assert len(oof) == 60 and {"image", "target", "prediction", "fold"} <= set(oof[0])
    summary_rows = {r["fold"]: r for r in h.read_csv(run / "cv_summary.csv")}
    assert {"0", "1", "mean", "std", "oof"} <= set(summary_rows)
    pooled = r2_score([float(r["target"]) for r in oof], [float(r["prediction"]) for r in oof])
    assert abs(float(summary_rows["oof"]["val_r2"]) - pooled) < TOL
    assert json.loads((run / "model.json").read_text())["kind"] == "cv"
    assert "mean ± std over 2 folds" in res["train"].out
    res["predict"].ok()
    rows = h.read_csv(res["predict"].cwd / "preds.csv")
    assert len(rows) == 60 and list(rows[0]) == ["image", "prediction"]
    values = [float(r["prediction"]) for r in rows]
    assert all(math.isfinite(v) for v in values) and 0 < np.mean(values) < 20


def test_baseline_random_forest_regressor(reg, h):
    """README: visionfit baseline --csv t.csv --task regress --label-col y
    (2 folds, 16 px here); `--model` other than rf is refused"""
    base, svm = reg.get("reg-baseline")
    base.ok()
    run = base.run_dir("baseline-rf-*")
    summary = {r["fold"]: r for r in h.read_csv(run / "cv_summary.csv")}
    assert float(summary["oof"]["val_r2"]) > 0.0  # the radius is in the pixels
    assert json.loads((run / "summary.json").read_text())["kind"] == "baseline"
    assert "r2" in base.out
    assert svm.rc == 2 and "random-forest regressor" in svm.out + svm.err, svm.tail()


def test_serve_answers_a_value_on_its_port(reg, vf_popen, ws, h):
    """README: visionfit serve runs/simple_cnn-<stamp>   (/predict: {"view": "value",
    "prediction": ...}); a text upload is refused with 415"""
    run = reg.get("reg-single")["run"]
    port = h.free_port()
    cwd = ws / "regress" / "serve"
    proc = vf_popen("serve", run, "--port", port, cwd=cwd, log="serve")
    with h.serving(proc, port, cwd / "serve.err") as url:
        image = ws / "data" / "discs" / "images" / "img_000.png"
        r = httpx.post(
            url + "/predict", files={"file": (image.name, image.read_bytes(), "image/png")}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["view"] == "value" and body["task"] == "regress" and body["target"] == "y"
        assert isinstance(body["prediction"], float) and 0 < body["prediction"] < 20
        r = httpx.post(url + "/predict", files={"file": ("notes.txt", b"hello", "text/plain")})
        assert r.status_code == 415, r.text
        assert httpx.get(url + "/").status_code == 200


def test_export_onnx_outputs_the_value(reg):
    """README: visionfit export runs/simple_cnn-<stamp> --format onnx   (output (batch, 1))"""
    res = reg.get("reg-single")
    res["export"].ok()
    onnx = res["run"] / "export" / "onnx"
    assert (onnx / "model.onnx").is_file()
    meta = json.loads((onnx / "export.json").read_text())
    assert meta["task"] == "regress"
    assert meta["output"]["kind"] == "value" and meta["output"]["shape"] == ["batch", 1]


def test_report_scores_scatter_and_residuals(reg):
    """README: visionfit report runs/simple_cnn-<stamp>   (scores, predicted vs true,
    residuals)"""
    res = reg.get("reg-single")
    res["report"].ok()
    run = res["run"]
    html = (run / "report.html").read_text()
    assert "Regression scores" in html and "Predicted vs true" in html and "Residuals" in html
    for png in ("pred_vs_true.png", "residuals.png"):
        assert f"plots/{png}" in html and (run / "plots" / png).is_file(), png


def test_tune_two_trials(reg, h):
    """README: visionfit tune --csv t.csv --task regress --label-col y --trials 20
    (2 trials of 1 epoch here)"""
    res = reg.get("reg-tune").ok()
    out = res.cwd / "runs" / "tune-visionfit"
    assert len(h.read_csv(out / "trials.csv")) == 2
    assert (out / "best.yaml").is_file()
    assert "val_rmse" in res.out + res.err


def test_auto_small_budget(reg, h):
    """README: visionfit auto --csv t.csv --task regress --label-col y --budget 30m
    (90 s, one candidate: auto's random-forest baseline takes 20-30 s of it): the leaderboard,
    and predict with the best run when one finished"""
    res = reg.get("reg-auto")
    res["auto"].ok()
    (auto_dir,) = (res["auto"].cwd / "runs").glob("auto-*")
    assert (auto_dir / "auto.json").is_file() and (auto_dir / "leaderboard.csv").is_file()
    board = h.read_csv(auto_dir / "leaderboard.csv")
    assert board and all(r["metric"] == "r2" for r in board if r.get("metric")), board
    if res["predict"] is None:
        pytest.skip("no best run within the budget (the leaderboard is checked)")
    res["predict"].ok()
    rows = h.read_csv(res["predict"].cwd / "preds.csv")
    assert len(rows) == 60 and list(rows[0]) == ["image", "prediction"]
