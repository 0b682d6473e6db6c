"""Segmentation's sections of report.html: final validation scores and post-processing, the
best and worst images by dice, the dice histogram, the post-processing grid.
`Segmentation.report_sections()` hands `SECTIONS` to the report (reports/registry.py)."""

from __future__ import annotations

from visionfit.plots import html as h
from visionfit.plots.sections import ReportContext, Section, SectionSpec
from visionfit.tasks.segmentation.plots import (
    plot_dice_hist,
    plot_postprocess,
    plot_seg_best_worst,
)


def seg_scores(ctx: ReportContext) -> Section | None:
    s = ctx.run.summary
    parts = []
    if s.get("val_final"):
        parts.append("<h3>Validation, original size, post-processed</h3>" + h.kv(s["val_final"]))
    post = s.get("postprocess") or {}
    meta = ctx.run.meta
    if post or "threshold" in meta:
        shown = {
            "threshold": meta.get("threshold"),
            "min_area (share of pixels)": meta.get("min_area"),
            **{k: v for k, v in post.items() if k not in ("threshold", "min_area")},
        }
        parts.append("<h3>Post-processing</h3>" + h.kv(shown))
    if s.get("dice_definition"):
        parts.append(h.para(s["dice_definition"], "muted"))
    if not parts:
        return None
    return Section("seg_scores", "Segmentation scores", "".join(parts))


def seg_best_worst(ctx: ReportContext) -> Section | None:
    tag, path = ctx.plot(plot_seg_best_worst, "best and worst images by dice")
    if path is None:
        return None
    text = (
        "Each row: the image, its true mask and the predicted mask (tinted), as predict makes it."
    )
    return Section("seg_best_worst", "Best and worst images", h.para(text) + tag, [path])


def dice_hist(ctx: ReportContext) -> Section | None:
    tag, path = ctx.plot(plot_dice_hist, "dice histogram")
    if path is None:
        return None
    return Section("dice_hist", "Dice per image", tag, [path])


def postprocess(ctx: ReportContext) -> Section | None:
    tag, path = ctx.plot(plot_postprocess, "post-processing tuning")
    if path is None:
        return None
    text = (
        "The threshold and minimum component area are tuned for the best mean dice on the "
        "validation predictions (so that score is slightly optimistic)."
    )
    return Section("postprocess", "Threshold and minimum area", h.para(text) + tag, [path])


SECTIONS = [
    SectionSpec("seg_scores", 38, seg_scores),
    SectionSpec("seg_best_worst", 40, seg_best_worst),
    SectionSpec("dice_hist", 45, dice_hist),
    SectionSpec("postprocess", 47, postprocess),
]
