"""plots/roc_pr.png: ROC and precision-recall curves (binary, or one-vs-rest per class)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

from visionfit.reports import _plot
from visionfit.reports._run import RunView
from visionfit.reports.predictions import (
    label_indices,
    probability_matrix,
    validation_predictions,
)

MAX_CURVES = 12  # one-vs-rest beyond this becomes unreadable: the most frequent classes are shown


def plot_roc_pr(run: RunView, out_dir: Path) -> Path | None:
    df = validation_predictions(run)
    if df is None or df.empty:
        return None
    classes = run.classes
    y = label_indices(df, classes)
    probs = probability_matrix(df, classes)
    if run.task == "binary":
        targets = [(classes[1], y == 1, probs[:, 1])]
    else:
        counts = np.bincount(y[y >= 0], minlength=len(classes))
        order = np.argsort(-counts, kind="stable")[:MAX_CURVES]
        targets = [(classes[i], y == i, probs[:, i]) for i in sorted(order)]
    targets = [t for t in targets if 0 < t[1].sum() < len(t[1])]  # both outcomes present
    if not targets:
        return None
    fig = _plot.figure(11, 4.6)
    ax_roc, ax_pr = fig.subplots(1, 2)
    for k, (name, truth, score) in enumerate(targets):
        fpr, tpr, _ = roc_curve(truth, score)
        prec, rec, _ = precision_recall_curve(truth, score)
        ap = average_precision_score(truth, score)
        label = _plot.short(name)
        ax_roc.plot(fpr, tpr, color=f"C{k % 10}", label=f"{label} (AUC {auc(fpr, tpr):.3f})")
        ax_pr.plot(rec, prec, color=f"C{k % 10}", label=f"{label} (AP {ap:.3f})")
        if run.task == "binary":
            ax_pr.axhline(truth.mean(), color="0.6", ls=":", lw=1, label="chance")
    ax_roc.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1)
    kind = "positive class" if run.task == "binary" else "one-vs-rest"
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC ({kind})")
    ax_pr.set(xlabel="recall", ylabel="precision", title=f"precision-recall ({kind})")
    for ax in (ax_roc, ax_pr):
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right" if ax is ax_roc else "lower left")
    return _plot.save(fig, out_dir, "roc_pr.png")
