"""Regression's sections of report.html: the scores, predicted-vs-true and the residuals.

Single runs: the validation images as the bundle predicted them (val_predictions.csv, written
after training; predicted again from splits.csv when the file is absent) and, when the run has
one, the test split scored once (test_predictions.csv). CV and baseline runs: the out-of-fold
predictions (oof.csv). `Regression.report_sections()` hands `SECTIONS` to the report.
"""

from __future__ import annotations

import pandas as pd

from visionfit.plots import html as h
from visionfit.plots.sections import ReportContext, Section, SectionSpec
from visionfit.runs.files import SPLITS
from visionfit.tasks.regression.metrics import score
from visionfit.tasks.regression.plots import finite_pairs, plot_pred_vs_true, plot_residuals


def predictions(ctx: ReportContext) -> tuple[pd.DataFrame | None, str]:
    """(image, target, prediction table, where it comes from) for the run's held-out images."""
    run = ctx.run
    if "regression_predictions" not in run.cache:
        run.cache["regression_predictions"] = _load(ctx)
    return run.cache["regression_predictions"]


def _load(ctx: ReportContext) -> tuple[pd.DataFrame | None, str]:
    run = ctx.run
    if run.kind in ("cv", "baseline"):
        oof = run.read_csv("oof.csv")
        text = "Out-of-fold predictions (oof.csv): every image predicted by the fold that did not "
        return oof, text + "train on it."
    val = run.read_csv("val_predictions.csv")
    if val is None:
        val = _predict_val_split(ctx)
    return val, "The validation split (val_predictions.csv), predicted with the run's bundle."


def _predict_val_split(ctx: ReportContext) -> pd.DataFrame | None:
    run = ctx.run
    splits = run.read_csv(SPLITS)
    if splits is None or "value" not in splits or not run.has_model():
        return None
    val = splits[splits["split"] == "val"].reset_index(drop=True)
    if val.empty:
        return None
    pred = ctx.predictor().predict(list(val["image"]))
    return pd.DataFrame(
        {"image": val["image"], "target": val["value"], "prediction": pred["prediction"]}
    )


def scores(ctx: ReportContext) -> Section | None:
    df, text = predictions(ctx)
    rows = {}
    if df is not None and len(df):
        y, p = finite_pairs(df)
        rows["held-out images (" + ("out-of-fold" if ctx.run.kind != "single" else "val") + ")"] = (
            score(y, p) | {"n": len(y)}
        )
    test = ctx.run.read_csv("test_predictions.csv") if ctx.run.kind == "single" else None
    if test is not None and len(test):
        y, p = finite_pairs(test)
        rows["test split (scored once)"] = score(y, p) | {"n": len(y)}
    if not rows:
        return None
    table = pd.DataFrame([{"images": k, **v} for k, v in rows.items()])
    target = ctx.run.classes[0] if ctx.run.classes else "value"
    body = h.para(f"Target {target!r}: R², MAE and RMSE on its own scale. {text}")
    return Section("regression_scores", "Regression scores", body + h.table(table))


def _plot(ctx: ReportContext, sid: str, title: str, fn, name: str) -> Section | None:
    df, text = predictions(ctx)
    if df is None or not len(df):
        return None
    label = "out-of-fold" if ctx.run.kind != "single" else "validation"
    tag, path = ctx.plot(lambda c: fn(df, c.plots_dir, name, label), title)
    if path is None:
        return None
    images = [path]
    test = ctx.run.read_csv("test_predictions.csv") if ctx.run.kind == "single" else None
    if test is not None and len(test):
        ttag, tpath = ctx.plot(lambda c: fn(test, c.plots_dir, "test_" + name, "test"), title)
        if tpath is not None:
            tag, images = tag + ttag, [path, tpath]
    return Section(sid, title, h.para(text) + tag, images)


def pred_vs_true(ctx: ReportContext) -> Section | None:
    return _plot(ctx, "pred_vs_true", "Predicted vs true", plot_pred_vs_true, "pred_vs_true.png")


def residuals(ctx: ReportContext) -> Section | None:
    text = "Residuals (predicted - true) against the prediction, and their histogram"
    return _plot(ctx, "residuals", text, plot_residuals, "residuals.png")


SECTIONS = [
    SectionSpec("regression_scores", 38, scores),
    SectionSpec("pred_vs_true", 40, pred_vs_true),
    SectionSpec("residuals", 45, residuals),
]
