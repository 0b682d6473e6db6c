"""Classification's sections of report.html (single, CV and baseline runs): samples per class,
confusion matrix and most-confused pairs, ROC / PR, calibration, worst mistakes, Grad-CAM.
`Classification.report_sections()` hands `SECTIONS` to the report (reports/registry.py)."""

from __future__ import annotations

import pandas as pd

from visionfit.plots import html as h
from visionfit.plots.sections import ReportContext, Section, SectionSpec
from visionfit.tasks.classification.gradcam import plot_gradcam
from visionfit.tasks.classification.plots import (
    most_confused,
    plot_confusion,
    plot_mistakes,
    plot_roc_pr,
    plot_samples,
)
from visionfit.tasks.classification.reliability import calibration_text, plot_calibration
from visionfit.tasks.classification.report_data import validation_predictions


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


def _plotted(sid: str, title: str, fn, text: str = ""):
    """The section that is one plot (`fn`) under `title` with `text` above it."""

    def build(ctx: ReportContext) -> Section | None:
        return _plot_section(ctx, sid, title, fn, text)

    build.__name__ = build.__qualname__ = sid
    return build


samples = _plotted("samples", "Training images per class", plot_samples, " ")


def confusion(ctx: ReportContext) -> Section | None:
    section = _plot_section(ctx, "confusion", "Confusion matrix", plot_confusion)
    df = validation_predictions(ctx)
    if section is None or df is None:
        return section
    pairs = most_confused(df, ctx.run.classes)
    if pairs:
        table = pd.DataFrame(pairs, columns=["true", "predicted as", "images"])
        section.body += "<h3>Most confused pairs</h3>" + h.table(table)
    else:
        section.body += h.para("No image is misclassified.", "muted")
    return section


roc = _plotted("roc", "ROC and precision-recall curves", plot_roc_pr)


def calibration(ctx: ReportContext) -> Section | None:
    """Reliability before / after temperature scaling, with the ECE and where it was measured."""
    return _plot_section(
        ctx, "calibration", "Calibration", plot_calibration, calibration_text(ctx, _source(ctx))
    )


mistakes = _plotted("mistakes", "Worst mistakes (highest loss)", plot_mistakes)
gradcam = _plotted(
    "gradcam",
    "Where the model looks (Grad-CAM)",
    plot_gradcam,
    "Grad-CAM on the last convolutional feature map: which regions raised the score of the "
    "predicted class, for images the model gets right and wrong.",
)


SECTIONS = [
    SectionSpec("samples", 15, samples),
    SectionSpec("confusion", 40, confusion),
    SectionSpec("roc", 45, roc),
    SectionSpec("calibration", 50, calibration),
    SectionSpec("mistakes", 55, mistakes),
    SectionSpec("gradcam", 60, gradcam, frozenset({"single", "cv"})),
]
