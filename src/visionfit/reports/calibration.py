"""plots/calibration.png: reliability curve and score histogram (binary runs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.calibration import calibration_curve

from visionfit.reports import _plot
from visionfit.reports._run import RunView
from visionfit.reports.predictions import label_indices, validation_predictions


def plot_calibration(run: RunView, out_dir: Path) -> Path | None:
    df = validation_predictions(run)
    if run.task != "binary" or df is None or df.empty:
        return None
    y = label_indices(df, run.classes) == 1
    p = df[f"prob_{run.classes[1]}"].to_numpy(np.float64)
    if y.all() or not y.any():
        return None
    bins = int(np.clip(len(df) // 10, 3, 10))
    frac, mean_pred = calibration_curve(y, p, n_bins=bins, strategy="quantile")
    fig = _plot.figure(10, 4.2)
    ax, hist = fig.subplots(1, 2)
    ax.plot([0, 1], [0, 1], color="0.6", ls=":", label="perfectly calibrated")
    ax.plot(mean_pred, frac, "o-", color="C0", label=f"model ({bins} quantile bins)")
    ax.set(
        xlabel=f"predicted P({_plot.short(run.classes[1])})",
        ylabel="observed fraction",
        title="calibration",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    edges = np.linspace(0, 1, 21)
    hist.hist(p[~y], bins=edges, alpha=0.6, label=_plot.short(run.classes[0]), color="C1")
    hist.hist(p[y], bins=edges, alpha=0.6, label=_plot.short(run.classes[1]), color="C0")
    threshold = float(run.meta.get("threshold") or run.summary.get("threshold") or 0.5)
    hist.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.2f}")
    hist.set(
        xlabel=f"predicted P({_plot.short(run.classes[1])})",
        ylabel="images",
        title="scores by true class",
    )
    hist.legend(fontsize=8)
    return _plot.save(fig, out_dir, "calibration.png")
