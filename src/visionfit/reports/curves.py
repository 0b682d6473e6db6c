"""Training curves from a run's metrics.csv: loss, validation metrics and learning rates."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from visionfit.engine.rundir import atomic_write_bytes


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
