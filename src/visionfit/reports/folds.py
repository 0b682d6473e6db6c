"""plots/folds.png: the score of every fold (CV and baseline runs), from cv_summary.csv, with
the mean ± std over folds and the pooled out-of-fold score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.plots import figure as _plot
from visionfit.reports._run import RunView
from visionfit.runs import files as run_files

_PREFERRED = ("val_auroc", "val_acc", "val_macro_f1", "val_f1", "dice", "iou", "val_dice")


def fold_table(run: RunView) -> pd.DataFrame | None:
    df = run.read_csv(run_files.CV_SUMMARY)
    if df is None or "fold" not in df:
        return None
    return df.assign(fold=df["fold"].astype(str))


def fold_metrics(run: RunView, df: pd.DataFrame) -> list[str]:
    main = run.summary.get("main_metric")
    cols = [
        c
        for c in df.columns
        if c not in ("fold", "n", "n_val") and pd.api.types.is_numeric_dtype(df[c])
    ]
    ordered = [main] if main in cols else []
    ordered += [c for c in _PREFERRED if c in cols and c not in ordered]
    return ordered[:3] or cols[:3]


def plot_folds(run: RunView, out_dir: Path) -> Path | None:
    df = fold_table(run)
    if df is None:
        return None
    per_fold = df[df["fold"].str.fullmatch(r"\d+")]
    metrics = fold_metrics(run, df)
    if per_fold.empty or not metrics:
        return None
    fig = _plot.figure(4.0 * len(metrics), 3.6)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, m in zip(axes, metrics, strict=True):
        vals = per_fold[m].to_numpy(np.float64)
        x = np.arange(len(vals))
        ax.bar(x, vals, color="C0", alpha=0.8)
        for xi, v in zip(x, vals, strict=True):
            ax.text(xi, v, f"{v:.3f}", ha="center", va="bottom", fontsize=8)
        mean, std = float(np.mean(vals)), float(np.std(vals))
        ax.axhline(mean, color="C3", ls="--", lw=1.2, label=f"mean {mean:.3f} ± {std:.3f}")
        ax.axhspan(mean - std, mean + std, color="C3", alpha=0.12)
        oof = df.loc[df["fold"] == "oof", m]
        if len(oof) and np.isfinite(oof.iloc[0]):
            ax.axhline(
                float(oof.iloc[0]), color="k", ls=":", lw=1.2, label=f"pooled OOF {oof.iloc[0]:.3f}"
            )
        ax.set_xticks(x, [f"fold {f}" for f in per_fold["fold"]])
        ax.set_title(m)
        top = max(float(np.nanmax(vals)), mean + std)
        ax.set_ylim(0, top * 1.18 if top > 0 else 1)
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3, axis="y")
    return _plot.save(fig, out_dir, "folds.png")
