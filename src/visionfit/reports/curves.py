"""Training curves from a run's metrics.csv: loss, validation metrics and learning rates."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from visionfit.runs import files as run_files
from visionfit.runs.rundir import atomic_write_bytes


def save_training_curves(metrics_csv: str | Path, out_png: str | Path) -> Path | None:
    """Plot metrics.csv into `out_png` (written atomically); None when there is nothing to plot."""
    metrics_csv, out_png = Path(metrics_csv), Path(out_png)
    if not metrics_csv.is_file():
        return None
    df = pd.read_csv(metrics_csv)
    if df.empty or "epoch" not in df:
        return None

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    losses = [c for c in ("train_loss", "val_loss") if c in df]
    scores = [c for c in df.columns if c.startswith("val_") and c != "val_loss"]
    lrs = [c for c in df.columns if c == "lr" or c.startswith("lr_")]
    if "lr_head" in lrs and "lr" in lrs:
        lrs.remove("lr")  # the same numbers as lr_head
    panels = [(c, t) for c, t in ((losses, "loss"), (scores, "validation"), (lrs, "lr")) if c]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (cols, title) in zip(axes[0], panels, strict=True):
        for col in cols:
            ax.plot(df["epoch"], df[col], marker="o", markersize=3, label=col)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if title == "lr" and (df[cols] > 0).all().all():
            ax.set_yscale("log")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(out_png, buf.getvalue())
    return out_png


# ---- plots/curves.png: the report's curves (train vs validation, best epoch marked) --------

_SCORE_PREFERENCE = ("auroc", "dice", "acc", "macro_f1", "f1", "iou", "balanced_acc")


def score_metric(columns, monitor: str) -> str | None:
    """The metric name (without train_/val_) shown beside the loss: the monitored one, or when
    the loss is monitored the first of AUROC, dice, accuracy, ... that the run logged."""
    names = {c[4:] for c in columns if c.startswith("val_")}
    if monitor.startswith("val_") and monitor != "val_loss" and monitor[4:] in names:
        return monitor[4:]
    return next((m for m in _SCORE_PREFERENCE if m in names), None)


def plot_curves(run, out_dir: Path) -> Path | None:
    """plots/curves.png: loss, the monitored (or main) metric and lr per epoch; train vs val.
    A CV run overlays its folds (one colour per fold, dashed = train)."""
    from matplotlib.ticker import MaxNLocator

    from visionfit.plots import figure as _plot

    series = _curve_series(run)
    if not series:
        return None
    first = series[0][1]
    metric = score_metric(first.columns, run.monitor)
    lr_cols = [c for c in first.columns if c == "lr" or c.startswith("lr_")]
    if "lr_head" in lr_cols and "lr" in lr_cols:
        lr_cols.remove("lr")
    panels = ["loss", *([metric] if metric else []), *(["lr"] if lr_cols else [])]
    fig = _plot.figure(4.6 * len(panels), 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    best = run.summary.get("best_epoch") if run.kind == "single" else None
    for ax, panel in zip(axes, panels, strict=True):
        for k, (label, df) in enumerate(series):
            colour = f"C{k}"
            cols = lr_cols if panel == "lr" else [f"train_{panel}", f"val_{panel}"]
            for col in cols:
                if col not in df:
                    continue
                style = "--" if col.startswith("train_") else "-"
                name = col if len(series) == 1 else f"{label} {col.split('_', 1)[0]}"
                if panel == "lr" and len(series) > 1 and k > 0:
                    continue  # every fold follows the same schedule
                ax.plot(df["epoch"], df[col], style, marker="o", ms=3, color=colour, label=name)
        if best is not None:
            ax.axvline(best, color="0.4", lw=1, ls=":", label=f"best epoch {best}")
        ax.set_title("learning rate" if panel == "lr" else panel)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        if panel == "lr" and (first[lr_cols] > 0).all().all():
            ax.set_yscale("log")
    return _plot.save(fig, out_dir, "curves.png")


def _curve_series(run) -> list[tuple[str, pd.DataFrame]]:
    df = run.metrics()
    if df is not None:
        return [("run", df)]
    out = []
    for d in run.fold_dirs():
        p = d / run_files.METRICS
        if p.is_file():
            m = pd.read_csv(p)
            if len(m) and "epoch" in m:
                out.append((d.name, m))
    return out
