"""The regression report's plots: predicted against true values, and the residuals, drawn
from a table of `target` and `prediction` (val_predictions.csv, oof.csv, test_predictions.csv).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.plots.figure import figure, save
from visionfit.tasks.regression.metrics import score


def finite_pairs(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) of the rows with both (an unreadable file has no prediction)."""
    y = pd.to_numeric(df["target"], errors="coerce").to_numpy(np.float64)
    p = pd.to_numeric(df["prediction"], errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(y) & np.isfinite(p)
    return y[ok], p[ok]


def caption(y: np.ndarray, p: np.ndarray) -> str:
    s = score(y, p)
    return f"R² {s['r2']:.3f}, MAE {s['mae']:.4g}, RMSE {s['rmse']:.4g}, n={len(y)}"


def plot_pred_vs_true(df: pd.DataFrame, out_dir: Path, name: str, title: str = "") -> Path | None:
    y, p = finite_pairs(df)
    if not len(y):
        return None
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    fig = figure(4.5, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(y, p, s=12, alpha=0.6)
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title(f"{title} predicted vs true\n{caption(y, p)}".strip(), fontsize=9)
    return save(fig, Path(out_dir), name)


def plot_residuals(df: pd.DataFrame, out_dir: Path, name: str, title: str = "") -> Path | None:
    y, p = finite_pairs(df)
    if not len(y):
        return None
    fig = figure(7.5, 3.5)
    ax, hist = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ax.scatter(p, p - y, s=12, alpha=0.6)
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("residual (predicted - true)")
    hist.hist(p - y, bins=min(30, max(5, len(y) // 4)))
    hist.set_xlabel("residual")
    hist.set_ylabel("images")
    fig.suptitle(f"{title} residuals".strip(), fontsize=9)
    return save(fig, Path(out_dir), name)
