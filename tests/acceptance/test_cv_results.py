"""README "Cross-validation, the baseline, ...", "Reports, plots and the web page" (report, runs)
and "Export and fast prediction": subprocesses on the shared runs."""

from __future__ import annotations

import json


def test_baseline_folds_hog(baseline_run, h):
    """README: visionfit baseline DATA --folds 5 --features hog   (2 folds here)"""
    assert baseline_run.name.startswith("baseline-rf-")
    folds = h.read_csv(baseline_run / "folds.csv")
    assert list(folds[0])[:3] == ["image", "label", "fold"] and len(folds) == 32
    assert {r["fold"] for r in folds} == {"0", "1"}
    for name in ("oof.csv", "cv_summary.csv", "summary.json", "model.json", "report.html"):
        assert (baseline_run / name).is_file(), name
    assert (baseline_run / "fold_0" / "model.skops").is_file()
    assert json.loads((baseline_run / "summary.json").read_text())["kind"] == "baseline"
    assert len(h.read_csv(baseline_run / "oof.csv")) == 32


def test_train_on_the_baseline_folds_with_refit(cv_run, baseline_run, jobs, h):
    """README: visionfit train DATA --folds-file runs/baseline-rf-<stamp>/folds.csv --epochs 15
    --refit"""
    assert cv_run.name.startswith("simple_cnn-cv-")
    key = lambda r: (r["image"].split("/")[-1], r["fold"])  # noqa: E731
    cv_folds = sorted(map(key, h.read_csv(cv_run / "folds.csv")))
    assert cv_folds == sorted(map(key, h.read_csv(baseline_run / "folds.csv")))
    oof = h.read_csv(cv_run / "oof.csv")
    assert len(oof) == 32 and {"image", "label", "fold", "pred"} <= set(oof[0])
    assert {"prob_circle", "prob_square"} <= set(oof[0])
    summary_rows = [r[next(iter(r))] for r in h.read_csv(cv_run / "cv_summary.csv")]
    assert {"mean", "std", "oof"} <= set(summary_rows)
    assert json.loads((cv_run / "model.json").read_text())["kind"] == "cv"
    summary = json.loads((cv_run / "summary.json").read_text())
    assert summary["kind"] == "cv" and {"cv_mean", "cv_std", "oof"} <= set(summary)
    for k in (0, 1):
        assert (cv_run / f"fold_{k}" / "model.safetensors").is_file()
    assert (cv_run / "refit" / "model.safetensors").is_file()
    out = jobs.get("baseline+cv")[2].out
    assert "mean ± std over 2 folds" in out and "pooled out-of-fold" in out


def test_runs_table_sorted_by_a_metric(vf, proj, single_run, cv_run, baseline_run):
    """README: visionfit runs --sort val_auroc"""
    res = vf("runs", "--sort", "val_auroc", "--csv", "table.csv", cwd=proj).ok()
    for run in (single_run, cv_run, baseline_run):
        assert run.name in res.out or run.name[:20] in res.out
    text = (proj / "table.csv").read_text()
    assert "val_auroc" in text and "baseline" in text and "cv" in text


def test_predict_with_the_fold_ensemble(vf, cv_run, new_images, h):
    """README: visionfit predict runs/simple_cnn-cv-<stamp> new_images/ --out preds.csv --tta"""
    cwd = new_images
    vf("predict", cv_run, "new_images/", "--out", "cv-preds.csv", "--tta", cwd=cwd).ok()
    rows = h.read_csv(cwd / "cv-preds.csv")
    assert len(rows) == 4 and {"image", "pred", "prob_circle", "prob_square"} <= set(rows[0])


def test_predict_with_the_baseline(vf, baseline_run, new_images, h):
    """README: a baseline run predicts with its scikit-learn pipelines (visionfit predict RUN)"""
    vf("predict", baseline_run, "new_images/", "--out", "rf-preds.csv", cwd=new_images).ok()
    assert len(h.read_csv(new_images / "rf-preds.csv")) == 4


def test_report_rewrites_the_run_report(vf, single_run):
    """README: visionfit report RUN   (RUN/plots/*.png + RUN/report.html)"""
    res = vf("report", single_run, cwd=single_run.parent.parent).ok()
    assert "report.html" in res.out
    html = (single_run / "report.html").read_text()
    assert "<script" not in html.lower() and "http://" not in html and "https://" not in html
    plots = {p.name for p in (single_run / "plots").glob("*.png")}
    assert {"curves.png", "confusion.png", "samples.png"} <= plots, plots


def test_report_self_contained_file_never_overwritten(vf, ws, single_run, h):
    """README: visionfit report RUN --out shared.html   (plots embedded; never overwrites)"""
    cwd = ws / "report-out"
    vf("report", single_run, "--out", "shared.html", cwd=cwd).ok()
    html = (cwd / "shared.html").read_text()
    assert "data:image/png;base64," in html
    h.one_line_error(vf("report", single_run, "--out", "shared.html", cwd=cwd))


def test_report_compare_runs(vf, proj, single_run, cv_run, baseline_run):
    """README: visionfit report RUNS_DIR --compare   (RUNS_DIR/compare.html)"""
    vf("report", "runs", "--compare", cwd=proj).ok()
    html = (proj / "runs" / "compare.html").read_text()
    assert single_run.name in html and cv_run.name in html and baseline_run.name in html


def test_runs_html(vf, proj, single_run, cv_run):
    """README: visionfit runs --html runs.html   (the same comparison page)"""
    vf("runs", "--html", "runs.html", cwd=proj).ok()
    html = (proj / "runs.html").read_text()
    assert single_run.name in html and cv_run.name in html


def test_export_onnx(vf, single_run):
    """README: visionfit export RUN --format onnx   (RUN/export/onnx/model.onnx + export.json)"""
    res = vf("export", single_run, "--format", "onnx", cwd=single_run.parent.parent).ok()
    out = single_run / "export" / "onnx"
    assert (out / "model.onnx").is_file()
    info = json.loads((out / "export.json").read_text())
    assert info["classes"] == ["circle", "square", "triangle"] and info["img_size"] == 32
    assert {"mean", "std", "preprocess", "format", "opset"} <= set(info)
    assert "difference" in res.out.lower() or "diff" in res.out.lower()


def test_export_torchscript_to_a_folder(vf, ws, single_run):
    """README: visionfit export RUN --format torchscript --out shipped/"""
    cwd = ws / "export-ts"
    vf("export", single_run, "--format", "torchscript", "--out", "shipped/", cwd=cwd).ok()
    assert (cwd / "shipped" / "model.torchscript.pt").is_file()
    assert json.loads((cwd / "shipped" / "export.json").read_text())["format"] == "torchscript"
    # nothing is overwritten
    res = vf("export", single_run, "--format", "torchscript", "--out", "shipped/", cwd=cwd)
    assert res.rc == 2 and "Traceback" not in res.err


def test_predict_with_the_onnx_backend(vf, cv_run, new_images, h):
    """README: visionfit predict RUN images/ --backend onnx   (exports RUN/export/onnx/ if missing;
    on the CV run, whose graph is the mean of its folds)"""
    assert not (cv_run / "export" / "onnx").exists()
    vf("predict", cv_run, "new_images/", "--backend", "onnx", "--out", "onnx-preds.csv",
       cwd=new_images).ok()  # fmt: skip
    assert (cv_run / "export" / "onnx" / "model.onnx").is_file()
    onnx_rows = h.read_csv(new_images / "onnx-preds.csv")
    vf("predict", cv_run, "new_images/", "--out", "torch-preds.csv", cwd=new_images).ok()
    torch_rows = h.read_csv(new_images / "torch-preds.csv")
    assert [r["pred"] for r in onnx_rows] == [r["pred"] for r in torch_rows]
    for a, b in zip(onnx_rows, torch_rows, strict=True):
        assert abs(float(a["prob_circle"]) - float(b["prob_circle"])) < 1e-4
