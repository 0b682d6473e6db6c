"""plots/confusion.png: the confusion matrix as counts and row-normalised, class names on axes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from visionfit.reports import _plot
from visionfit.reports._run import RunView
from visionfit.reports.predictions import label_indices, validation_predictions


def confusion_counts(df: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """(true, predicted) counts over the validation / out-of-fold predictions."""
    y = label_indices(df, classes)
    p = label_indices(df.assign(label=df["pred"]), classes)
    keep = (y >= 0) & (p >= 0)
    return confusion_matrix(y[keep], p[keep], labels=list(range(len(classes))))


def most_confused(df: pd.DataFrame, classes: list[str], n: int = 10) -> list[tuple[str, str, int]]:
    """(true, predicted, count) for the most frequent mistakes, largest first (fastai's)."""
    cm = confusion_counts(df, classes)
    pairs = [
        (classes[i], classes[j], int(cm[i, j]))
        for i in range(len(classes))
        for j in range(len(classes))
        if i != j and cm[i, j] > 0
    ]
    return sorted(pairs, key=lambda t: (-t[2], t[0], t[1]))[:n]


def plot_confusion(run: RunView, out_dir: Path) -> Path | None:
    df = validation_predictions(run)
    if df is None or df.empty:
        return None
    classes = run.classes
    cm = confusion_counts(df, classes)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
    k = len(classes)
    side = min(max(3.2, 0.55 * k + 2.0), 14)
    fig = _plot.figure(2 * side + 1.2, side)
    axes = fig.subplots(1, 2)
    names = [_plot.short(c) for c in classes]
    for ax, mat, title, fmt in (
        (axes[0], cm, "counts", "{:d}"),
        (axes[1], norm, "row-normalised (recall per class)", "{:.2f}"),
    ):
        im = ax.imshow(mat, cmap="Blues", vmin=0, vmax=max(float(mat.max()), 1e-9))
        ax.set_title(title)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_xticks(
            range(k), names, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center"
        )
        ax.set_yticks(range(k), names)
        if k <= 25:
            thresh = mat.max() / 2 if mat.max() else 1
            for i in range(k):
                for j in range(k):
                    v = mat[i, j]
                    ax.text(
                        j,
                        i,
                        fmt.format(int(v) if fmt == "{:d}" else v),
                        ha="center",
                        va="center",
                        fontsize=8 if k > 10 else 10,
                        color="white" if v > thresh else "black",
                    )
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.suptitle(
        f"{_source(run)}: {len(df)} images, accuracy {np.trace(cm) / max(cm.sum(), 1):.3f}"
    )
    return _plot.save(fig, out_dir, "confusion.png")


def _source(run: RunView) -> str:
    return "out-of-fold predictions" if run.kind in ("cv", "baseline") else "validation set"
