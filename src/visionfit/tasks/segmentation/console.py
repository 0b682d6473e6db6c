"""What `visionfit train` prints after a segmentation run (Rich renderables, printed by cli/)."""

from __future__ import annotations

import math

from rich.markup import escape
from rich.table import Table

from visionfit.data.masks import size_mismatch_text
from visionfit.text import score_text


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
        table.add_row(key, score_text(value))
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


def render_check_section(report, limit: int = 10) -> list:
    """`visionfit check`'s segmentation section (a SegCheckReport, or its JSON in a
    CheckReport) as a table, then the first problems of each kind."""
    if isinstance(report, dict):
        from visionfit.tasks.segmentation.check import SegCheckReport

        fields = {k: v for k, v in report.items() if k in SegCheckReport.__dataclass_fields__}
        report = SegCheckReport(**fields)
    out: list = []
    t = Table(title="segmentation data", show_header=False, title_justify="left")
    t.add_row("layout", report.layout)
    t.add_row("image/mask pairs", str(report.n_images))
    if report.splits and list(report.splits) != ["(none)"]:
        t.add_row("splits", ", ".join(f"{k}: {v}" for k, v in report.splits.items()))
    t.add_row("classes", ", ".join(report.classes))
    for i, line in enumerate(report.mask_values or [report.mask_rule]):
        t.add_row("mask values" if i == 0 else "", line)
    t.add_row("empty masks", f"{report.empty_masks} ({report.empty_share:.1%})")
    sizes = list(report.image_sizes.items())
    t.add_row(
        "image sizes",
        ", ".join(f"{s} ({n})" for s, n in sizes[:5]) + (" ..." if len(sizes) > 5 else ""),
    )
    if report.value_counts:
        vals = list(report.value_counts.items())
        t.add_row(
            "values (masks holding each)",
            ", ".join(f"{v}: {n}" for v, n in vals[:12]) + (" ..." if len(vals) > 12 else ""),
        )
    t.add_row("unreadable files", str(len(report.unreadable)))
    t.add_row("size mismatches", str(len(report.size_mismatches)))
    t.add_row("masks with unexpected values", str(len(report.unexpected_values)))
    if report.annotation_problems:
        t.add_row("left out for annotations", str(len(report.annotation_problems)))
    if report.layout == "rle-csv":
        t.add_row("RLE rows that do not fit", str(len(report.rle_problems)))
    out.append(t)
    for text in report.notes:
        out.append(f"note: {text}")
    if report.mask_problem:
        out.append(f"[yellow]refused[/] {escape(report.mask_problem)}")
    for path, reason in report.unreadable[:limit]:
        out.append(f"[yellow]unreadable[/] {path}: {reason}")
    for where, reason, detail in report.annotation_problems[:limit]:
        out.append(f"[yellow]{escape(reason)}[/] {escape(where)}: {escape(detail)}")
    for image, mask, isz, msz in report.size_mismatches[:limit]:
        out.append(f"[yellow]size mismatch[/] {size_mismatch_text(image, mask, isz, msz)}")
    for mask, bad in report.unexpected_values[:limit]:
        shown = ", ".join(map(str, bad[:8])) + (", ..." if len(bad) > 8 else "")
        out.append(f"[yellow]unexpected values[/] {mask}: {shown}")
    for text in report.rle_problems[:limit]:
        out.append(f"[yellow]RLE row[/] {escape(text)}")
    out.append("[green]no problems found[/]" if report.ok else "[yellow]problems found[/]")
    return out
