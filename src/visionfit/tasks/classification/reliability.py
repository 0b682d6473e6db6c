"""The report's calibration plot (plots/calibration.png) and its text: a reliability diagram of
top-1 confidence (Guo et al. 2017; binary and multi-class), before and after the run's temperature
scaling when it has one, beside the scores by true class (binary) or the top-1 confidence of right
and wrong predictions (multi-class).

The validation / out-of-fold predictions the report reads (report_data.py) are the calibrated ones
(predict applies model.json's `temperature`; oof.csv is written after scaling); the "before"
curve is recovered from them by dividing the logits by 1 / T (calibration.apply_temperature).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visionfit.plots import figure as _plot
from visionfit.plots.sections import ReportContext
from visionfit.tasks.classification.calibration import (
    ECE_BINS,
    apply_temperature,
    expected_calibration_error,
    reliability,
)
from visionfit.tasks.classification.report_data import (
    label_indices,
    probability_matrix,
    shown_predictions,
)


def run_temperature(run) -> float | None:
    """The run's temperature (model.json), None when it has none or T = 1."""
    t = (run.meta or {}).get("temperature")
    return float(t) if t and float(t) != 1.0 else None


def calibration_arrays(ctx: ReportContext):
    """(y, probs as predict gives them, probs before temperature scaling or None), or None."""
    run = ctx.run
    df = shown_predictions(ctx)
    if df is None:
        return None
    y = label_indices(df, run.classes)
    keep = y >= 0
    if not keep.any():
        return None
    probs = probability_matrix(df, run.classes)[keep]
    t = run_temperature(run)
    before = apply_temperature(probs, run.task, 1.0 / t) if t else None
    return y[keep], probs, before


def plot_calibration(ctx: ReportContext) -> Path | None:
    run, out_dir = ctx.run, ctx.plots_dir
    arrays = calibration_arrays(ctx)
    if arrays is None:
        return None
    y, probs, before = arrays
    fig = _plot.figure(10, 4.2)
    ax, right = fig.subplots(1, 2)
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", label="perfectly calibrated")
    t = run_temperature(run)
    curves = [("before scaling", before, "C1"), (f"after T = {t:.2f}", probs, "C0")] if t else []
    for label, p, colour in curves or [("model", probs, "C0")]:
        pts = reliability(p, y, run.task)
        ece = expected_calibration_error(p, y, run.task)
        ax.plot(pts[:, 0], pts[:, 1], "o-", color=colour, label=f"{label}: ECE {ece:.3f}")
    ax.set(
        xlabel="top-1 confidence",
        ylabel="accuracy",
        title=f"reliability ({ECE_BINS} equal-width bins)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if run.task == "binary":
        _scores_by_class(right, run, y == 1, probs[:, 1])
    else:
        _confidence_hist(right, y, probs)
    return _plot.save(fig, out_dir, "calibration.png")


def _scores_by_class(ax, run, positive: np.ndarray, p: np.ndarray) -> None:
    edges = np.linspace(0, 1, 21)
    ax.hist(p[~positive], bins=edges, alpha=0.6, label=_plot.short(run.classes[0]), color="C1")
    ax.hist(p[positive], bins=edges, alpha=0.6, label=_plot.short(run.classes[1]), color="C0")
    threshold = float(run.meta.get("threshold") or run.summary.get("threshold") or 0.5)
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.2f}")
    ax.set(
        xlabel=f"predicted P({_plot.short(run.classes[1])})",
        ylabel="images",
        title="scores by true class",
    )
    ax.legend(fontsize=8)


def _confidence_hist(ax, y: np.ndarray, probs: np.ndarray) -> None:
    edges = np.linspace(0, 1, 21)
    right = probs.argmax(axis=1) == y
    conf = probs.max(axis=1)
    ax.hist(conf[right], bins=edges, alpha=0.6, label="right", color="C2")
    ax.hist(conf[~right], bins=edges, alpha=0.6, label="wrong", color="C3")
    ax.set(xlabel="top-1 confidence", ylabel="images", title="confidence of right and wrong")
    ax.legend(fontsize=8)


def calibration_text(ctx: ReportContext, source: str) -> str:
    """What the section says above the plot: where the numbers were measured, and what they do
    not mean."""
    s = ctx.run.summary
    ece, t = s.get("ece"), s.get("temperature")
    parts = [
        "Do predicted probabilities match how often the model is right? Points on the diagonal "
        "are calibrated; ECE (expected calibration error, Guo et al. 2017) is the image-weighted "
        f"mean gap between confidence and accuracy over {ECE_BINS} equal-width bins.",
        source,
    ]
    if isinstance(ece, (int, float)):
        parts.append(f"ECE of the network's own probabilities: {ece:.4f}.")
    if isinstance(t, (int, float)) and s.get("ece_calibrated") is not None:
        parts.append(
            f"Temperature scaling: logits divided by T = {t:.3f} (model.json; predict, serve and "
            f"export apply it), ECE after {s.get('ece_calibrated'):.4f}. T was fitted on these "
            "same images, so the 'after' numbers are optimistic; a test split, when scored, is "
            "the honest measure (test_scores.json: ece)."
        )
    return " ".join(parts)
