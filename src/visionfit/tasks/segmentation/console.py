"""What `visionfit train` prints after a segmentation run (Rich renderables, printed by cli/)."""

from __future__ import annotations

import math

from rich.table import Table


def render_summary(result) -> list:
    """After one run: the post-processed scores; after --folds K: the per-fold table."""
    return segment_cv_summary(result) if hasattr(result, "per_fold") else segment_summary(result)


def segment_summary(result) -> list:
    """A segmentation run's post-processed validation scores at the original image size."""
    table = Table(
        title="validation, original size, post-processed", show_header=False, title_justify="left"
    )
    pp, out = result.postprocess, []
    table.add_row("threshold", f"{pp.get('threshold', 0.5):.2f}")
    table.add_row("min area", f"{pp.get('min_area', 0.0):g} of the image")
    for key, value in result.val_final.items():
        table.add_row(key, f"{value:.4f}")
    out.append(table)
    out.append(
        "dice: mean over images of 2|P&T|/(|P|+|T|), empty/empty = 1; per-image scores in "
        f"{result.run_dir / 'val_scores.csv'}"
    )

    return out


def segment_cv_summary(result) -> list:
    """After `train --task segment --folds K` (engine.cv.cross_validate's segmentation result)."""
    out = []
    keys = [k for k in ("dice", "iou", "pixel_acc", "auc", "empty_correct") if k in result.mean]
    table = Table(
        title=f"{result.run_dir}: {result.folds} folds ({result.fold_kind}), segment; "
        "original size, post-processed",
        title_justify="left",
    )
    table.add_column("fold")
    for k in keys:
        table.add_column(k, justify="right")
    for row in result.per_fold:
        table.add_row(str(row["fold"]), *(f"{row.get(k, math.nan):.4f}" for k in keys))
    table.add_row("mean", *(f"{result.mean[k]:.4f}" for k in keys))
    table.add_row("std", *(f"{result.std[k]:.4f}" for k in keys))
    out.append(table)
    out.append(f"[bold]{result.headline()}[/]")
    pp = result.postprocess
    out.append(
        f"ensemble post-processing: threshold {pp['threshold']:.2f}, min area "
        f"{pp['min_area']:g} ({pp['method']})"
    )
    out.append(
        f"run directory: {result.run_dir} (folds.csv, cv_summary.csv, oof_scores.csv); "
        f"visionfit predict {result.run_dir} ... averages the {result.folds} fold models"
    )
    if getattr(result, "refit_dir", None):
        out.append(f"refit on all data: {result.refit_dir}")
    return out
