"""Segmentation plots from the run's validation predictions (`val_scores.csv`, one row per image
with its dice, and `val_predictions/masks/`; a CV run's `oof_scores.csv`):

- plots/seg_best_worst.png: image / true mask / predicted mask for the best and worst images;
- plots/dice_hist.png: the distribution of per-image dice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.plots import figure as _plot
from visionfit.plots.sections import ReportContext
from visionfit.plots.tiles import grid, load_image

N_EACH = 4


def val_scores(run) -> pd.DataFrame | None:
    """Per-image scores with the true mask's path added when the run's split table has it."""
    df = run.read_csv("oof_scores.csv")
    if df is None:
        df = run.read_csv("val_scores.csv")
    if df is None or "dice" not in df or "image" not in df:
        return None
    samples = run.samples()
    if samples is not None and "mask" in samples and "true_mask" not in df:
        truth = samples.drop_duplicates("image").set_index("image")["mask"]
        df = df.assign(true_mask=df["image"].map(truth))
    return df.dropna(subset=["dice"]).reset_index(drop=True)


def _pred_mask(path) -> np.ndarray | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            m = np.asarray(im)
    except (OSError, ValueError, TypeError):
        return None
    return (m > 0).astype(np.uint8) if m.max() == 255 else m.astype(np.uint8)


def read_true_mask(run, path) -> np.ndarray | None:
    """The class-index mask of a training/validation mask file, or None if unreadable."""
    from visionfit.data.masks import MaskSpec, read_mask

    spec = run.meta.get("mask_spec")
    try:
        return read_mask(path, MaskSpec.from_json(spec) if spec else MaskSpec())
    except Exception:  # noqa: BLE001 - a report shows what it can; a bad mask is not fatal
        return None


def _triple(run, row, with_truth: bool) -> list[tuple[np.ndarray | str | None, str]]:
    img = load_image(row["image"], int(run.meta.get("in_chans", 3)), max_side=None)
    has_truth = isinstance(row.get("true_mask"), str)
    truth = read_true_mask(run, row["true_mask"]) if has_truth else None
    pred = _pred_mask(row["mask_file"]) if isinstance(row.get("mask_file"), str) else None
    name = _plot.short(Path(str(row["image"])).stem, 16)
    shown_truth = "true mask\nnot recorded" if not has_truth else truth
    if img is not None and truth is not None:
        shown_truth = _plot.tint(img, truth)
    shown_pred = None if pred is None or img is None else _plot.tint(img, pred)
    pred_tile = (shown_pred, f"prediction, dice {row['dice']:.3f}")
    return (
        [(img, name), (shown_truth, "true mask"), pred_tile]
        if with_truth
        else [(img, name), pred_tile]
    )


def plot_seg_best_worst(ctx: ReportContext) -> Path | None:
    run, out_dir = ctx.run, ctx.plots_dir
    df = val_scores(run)
    if df is None or df.empty:
        return None
    ordered = df.sort_values("dice", kind="stable")
    n = min(N_EACH, max(len(df) // 2, 1))
    worst, best = ordered.head(n), ordered.tail(n).iloc[::-1]
    with_truth = "true_mask" in df and df["true_mask"].notna().any()
    rows = []  # each row: a best image's tiles, then a worst image's
    for (_, b), (_, w) in zip(best.iterrows(), worst.iterrows(), strict=True):
        left, right = _triple(run, b, with_truth), _triple(run, w, with_truth)
        left[0] = (left[0][0], f"best: {left[0][1]}")
        right[0] = (right[0][0], f"worst: {right[0][1]}")
        rows.append(left + right)
    title = f"best (left) and worst (right) validation images by dice, of {len(df)}; masks tinted"
    if not with_truth:
        title += " (true masks: not recorded in this run's files)"
    return grid(
        rows,
        out_dir,
        "seg_best_worst.png",
        tile=1.9,
        title=title,
        caption_lines=1,
    )


def plot_dice_hist(ctx: ReportContext) -> Path | None:
    run, out_dir = ctx.run, ctx.plots_dir
    df = val_scores(run)
    if df is None or df.empty:
        return None
    dice = df["dice"].to_numpy(np.float64)
    fig = _plot.figure(6.0, 3.6)
    ax = fig.subplots()
    ax.hist(dice, bins=np.linspace(0, 1, 21), color="C0", edgecolor="white")
    ax.axvline(dice.mean(), color="C3", ls="--", label=f"mean {dice.mean():.3f}")
    ax.axvline(np.median(dice), color="k", ls=":", label=f"median {np.median(dice):.3f}")
    if "true_pixels" in df:
        empty = int((df["true_pixels"] == 0).sum())
        ax.plot([], [], " ", label=f"{empty} of {len(df)} true masks empty")
    ax.set(xlabel="dice per image", ylabel="images", title="validation dice per image")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return _plot.save(fig, out_dir, "dice_hist.png")


def plot_postprocess(ctx: ReportContext) -> Path | None:
    """plots/postprocess.png: validation dice against the probability threshold and against the
    minimum component area, from the tuning grid in `postprocess.csv` (threshold, min_area,
    dice: one row per grid point), the tuned values marked. None when the run has no grid."""
    run, out_dir = ctx.run, ctx.plots_dir
    grid_df = run.read_csv("postprocess.csv")
    if grid_df is None or not {"threshold", "min_area", "dice"} <= set(grid_df.columns):
        return None
    t_best = float(run.meta.get("threshold", grid_df.loc[grid_df["dice"].idxmax(), "threshold"]))
    a_best = float(run.meta.get("min_area", grid_df.loc[grid_df["dice"].idxmax(), "min_area"]))
    fig = _plot.figure(10, 3.8)
    ax_t, ax_a = fig.subplots(1, 2)
    areas = sorted(grid_df["min_area"].unique())
    for k, area in enumerate(sorted({areas[0], _nearest(areas, a_best)})):
        part = grid_df[grid_df["min_area"] == area].sort_values("threshold")
        ax_t.plot(part["threshold"], part["dice"], "o-", ms=3, color=f"C{k}",
                  label=f"min_area {area:g}")  # fmt: skip
    ax_t.axvline(t_best, color="k", ls=":", label=f"tuned {t_best:g}")
    ax_t.set(xlabel="probability threshold", ylabel="mean dice", title="dice vs threshold")
    thresholds = sorted(grid_df["threshold"].unique())
    part = grid_df[grid_df["threshold"] == _nearest(thresholds, t_best)].sort_values("min_area")
    pos = np.arange(len(part))  # the areas span decades and include 0: evenly spaced ticks
    ax_a.plot(pos, part["dice"], "o-", ms=3, color="C2",
              label=f"threshold {_nearest(thresholds, t_best):g}")  # fmt: skip
    ax_a.axvline(int(np.argmin(np.abs(part["min_area"].to_numpy() - a_best))), color="k", ls=":",
                 label=f"tuned {a_best:g}")  # fmt: skip
    ax_a.set_xticks(pos, [f"{v:g}" for v in part["min_area"]], rotation=30, fontsize=8)
    ax_a.set(xlabel="minimum component area (share of the image)", ylabel="mean dice",
             title="dice vs minimum area")  # fmt: skip
    for ax in (ax_t, ax_a):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _plot.save(fig, out_dir, "postprocess.png")


def _nearest(values, x: float) -> float:
    return min(values, key=lambda v: abs(v - x))
