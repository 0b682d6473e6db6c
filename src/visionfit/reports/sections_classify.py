"""Report sections of classification runs (single, CV and baseline): samples per class,
confusion matrix and most-confused pairs, ROC / PR, calibration, worst mistakes, Grad-CAM."""

from __future__ import annotations

import pandas as pd

from visionfit.reports import _html as h
from visionfit.reports.calibration import plot_calibration
from visionfit.reports.confusion import most_confused, plot_confusion
from visionfit.reports.gradcam import plot_gradcam
from visionfit.reports.mistakes import plot_mistakes
from visionfit.reports.predictions import validation_predictions
from visionfit.reports.registry import ReportContext, Section, register
from visionfit.reports.roc import plot_roc_pr
from visionfit.reports.samples import plot_samples

CLASSIFY = {"classify"}


def _source(ctx: ReportContext) -> str:
    if ctx.run.kind in ("cv", "baseline"):
        return (
            "Out-of-fold predictions (oof.csv): every image predicted by the fold that did not "
            "train on it."
        )
    return "The validation split (splits.csv), predicted with the run's best-epoch model."


def _plot_section(ctx: ReportContext, sid: str, title: str, fn, text: str = "") -> Section | None:
    tag, path = ctx.plot(fn, title)
    if path is None:
        return None
    return Section(sid, title, h.para(text or _source(ctx)) + tag, [path])


@register("samples", order=15, families=CLASSIFY)
def samples(ctx: ReportContext) -> Section | None:
    return _plot_section(ctx, "samples", "Training images per class", plot_samples, " ")


@register("confusion", order=40, families=CLASSIFY)
def confusion(ctx: ReportContext) -> Section | None:
    section = _plot_section(ctx, "confusion", "Confusion matrix", plot_confusion)
    df = validation_predictions(ctx.run)
    if section is None or df is None:
        return section
    pairs = most_confused(df, ctx.run.classes)
    if pairs:
        table = pd.DataFrame(pairs, columns=["true", "predicted as", "images"])
        section.body += "<h3>Most confused pairs</h3>" + h.table(table)
    else:
        section.body += h.para("No image is misclassified.", "muted")
    return section


@register("roc", order=45, families=CLASSIFY)
def roc(ctx: ReportContext) -> Section | None:
    return _plot_section(ctx, "roc", "ROC and precision-recall curves", plot_roc_pr)


@register("calibration", order=50, families=CLASSIFY)
def calibration(ctx: ReportContext) -> Section | None:
    text = (
        "Do predicted probabilities match observed frequencies? Points on the diagonal are "
        "calibrated; right: the scores of each true class."
    )
    return _plot_section(ctx, "calibration", "Calibration", plot_calibration, text)


@register("mistakes", order=55, families=CLASSIFY)
def mistakes(ctx: ReportContext) -> Section | None:
    return _plot_section(ctx, "mistakes", "Worst mistakes (highest loss)", plot_mistakes)


@register("gradcam", order=60, kinds={"single", "cv"}, families=CLASSIFY)
def gradcam(ctx: ReportContext) -> Section | None:
    text = (
        "Grad-CAM on the last convolutional feature map: which regions raised the score of the "
        "predicted class, for images the model gets right and wrong."
    )
    return _plot_section(ctx, "gradcam", "Where the model looks (Grad-CAM)", plot_gradcam, text)
