"""The plots of a classification run's report (plots/<name>.png), each from the validation or
out-of-fold predictions (report_data.py) or the training images:

- samples.png: a few training images of every class, one row per class;
- confusion.png: the confusion matrix as counts and row-normalised, class names on axes;
- roc_pr.png: ROC and precision-recall curves (binary, or one-vs-rest per class);
- calibration.png: reliability.py (top-1 reliability, before / after temperature scaling);
- mistakes.png: the validation images the model gets most wrong (fastai's `plot_top_losses`),
  each with its true class, prediction and the probabilities.

Each takes the report context and returns the PNG's path, or None where it does not apply.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (
    auc,
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_curve,
)

from visionfit.plots import figure as _plot
from visionfit.plots.sections import ReportContext
from visionfit.plots.tiles import grid, load_image
from visionfit.tasks.classification.report_data import (
    label_indices,
    probability_matrix,
    shown_predictions,
)

PER_CLASS = 6
MAX_CLASSES = 20


def plot_samples(ctx: ReportContext) -> Path | None:
    run, out_dir = ctx.run, ctx.plots_dir
    df = run.train_images()
    if df.empty or "label" not in df or run.task == "multilabel":
        return None
    in_chans = int(run.meta.get("in_chans", run.config.get("data", {}).get("in_chans", 3)))
    rows, labels = [], []
    for cls in run.classes[:MAX_CLASSES]:
        pick = df[df["label"].astype(str) == cls].head(PER_CLASS)
        if pick.empty:
            continue
        rows.append([(load_image(p, in_chans), Path(p).name[:22]) for p in pick["image"]])
        labels.append(f"{cls}\n({int((df['label'].astype(str) == cls).sum())})")
    more = len(run.classes) - MAX_CLASSES
    title = "training images per class (count)" + (
        f"; {more} more classes not shown" if more > 0 else ""
    )
    return grid(rows, out_dir, "samples.png", row_labels=labels, title=title, caption_lines=1)


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


def plot_confusion(ctx: ReportContext) -> Path | None:
    run, out_dir = ctx.run, ctx.plots_dir
    df = shown_predictions(ctx)
    if df is None:
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


def _source(run) -> str:
    given = getattr(run, "source", None)  # `visionfit evaluate` names what it scored
    if given:
        return given
    return "out-of-fold predictions" if run.kind in ("cv", "baseline") else "validation set"


MAX_CURVES = 12  # one-vs-rest beyond this becomes unreadable: the most frequent classes are shown


def plot_roc_pr(ctx: ReportContext) -> Path | None:
    run, out_dir = ctx.run, ctx.plots_dir
    df = shown_predictions(ctx)
    if df is None:
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


N_WORST = 12


def top_losses(df: pd.DataFrame, classes: list[str], n: int = N_WORST) -> pd.DataFrame:
    """The n rows with the largest cross-entropy -log p(true class), largest first."""
    y = label_indices(df, classes)
    probs = probability_matrix(df, classes)
    p_true = probs[np.arange(len(df)), np.clip(y, 0, None)]
    out = df.assign(p_true=p_true, loss=-np.log(np.clip(p_true, 1e-12, 1.0)))
    return out.sort_values("loss", ascending=False, kind="stable").head(n)


def plot_mistakes(ctx: ReportContext) -> Path | None:
    run, out_dir = ctx.run, ctx.plots_dir
    df = shown_predictions(ctx)
    if df is None:
        return None
    worst = top_losses(df, run.classes)
    in_chans = int(run.meta.get("in_chans", 3))
    tiles = []
    for _, r in worst.iterrows():
        p_pred = float(r[f"prob_{r['pred']}"]) if f"prob_{r['pred']}" in r else float("nan")
        mark = "" if r["pred"] == r["label"] else "✗ "
        caption = (
            f"{mark}true {r['label']} / pred {r['pred']}\n"
            f"P(pred) {p_pred:.2f}  P(true) {r['p_true']:.2f}"
        )
        tiles.append((load_image(r["image"], in_chans), caption))
    rows = [tiles[i : i + 6] for i in range(0, len(tiles), 6)]
    wrong = int((df["pred"] != df["label"]).sum())
    title = f"highest-loss images ({wrong} of {len(df)} wrong; loss = -log P(true))"
    return grid(rows, out_dir, "mistakes.png", tile=2.0, title=title)
