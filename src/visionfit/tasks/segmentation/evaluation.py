"""`visionfit evaluate` for segmentation: besides metrics.json and predictions.csv (one row per
image: its dice, IoU, predicted and true pixels, the predicted mask's file), per_class.csv, the
report's best / worst grid (seg_best_worst.png) and dice histogram (dice_hist.png), drawn from
these predictions, and predictions.png (image, true mask, predicted mask with its dice)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from visionfit.plots.sections import ReportContext
from visionfit.plots.tiles import grid
from visionfit.tasks.base import EvaluationArgs, EvaluationFiles
from visionfit.tasks.segmentation.plots import _triple, plot_dice_hist, plot_seg_best_worst

GRID_IMAGES = 8  # image / true / predicted: three tiles each, two images a row


@dataclasses.dataclass
class _Evaluated:
    """The duck-typed run the report's segmentation plots read (tasks/.../plots.py)."""

    meta: dict
    table: pd.DataFrame  # predictions.csv
    truth: pd.DataFrame | None  # image, mask (the true mask files, when the layout has them)
    kind: str = "single"

    def read_csv(self, name: str) -> pd.DataFrame | None:
        return self.table if name == "val_scores.csv" else None

    def samples(self) -> pd.DataFrame | None:
        return self.truth


def evaluation_files(args: EvaluationArgs) -> EvaluationFiles:
    out_dir = Path(args.out_dir)
    found = EvaluationFiles()
    table = pd.read_csv(out_dir / "predictions.csv", dtype={"image": str, "id": str})
    per_class = _per_class(args.scores.get("scores", {}), args.predictor.classes, table)
    per_class.to_csv(out_dir / "per_class.csv", index=False)
    found.files.append(out_dir / "per_class.csv")
    found.tables.append(("Per class", per_class))
    df = args.data.df
    truth = df[["image", "mask"]] if "mask" in df and (df["mask"] != "").any() else None
    run = _Evaluated(args.predictor.meta, table, truth)
    ctx = ReportContext(run, out_dir, out_dir, embed=False)
    plots = (
        ("Best and worst images by dice", plot_seg_best_worst),
        ("Dice per image", plot_dice_hist),
    )
    found.add_plots(ctx, plots)
    path = _prediction_grid(run, args, out_dir)
    if path is not None:
        found.figures.insert(0, ("Predictions", path))
        found.files.append(path)
    return found


def _per_class(scores: dict, classes: list[str], table: pd.DataFrame) -> pd.DataFrame:
    """Dice and IoU of every foreground class (mean over images, as `dice` is), and the true
    and predicted pixels of a binary run's foreground."""
    foreground = list(classes)[1:] or ["foreground"]
    if len(foreground) == 1:
        row = {"class": foreground[0], "dice": scores.get("dice"), "iou": scores.get("iou")}
        row.update(dice_global=scores.get("dice_global"), iou_global=scores.get("iou_global"))
        row.update(true_pixels=int(table["true_pixels"].sum()))
        row.update(pred_pixels=int(table["pred_pixels"].sum()))
        return pd.DataFrame([row])
    rows = [
        {"class": c, "dice": scores.get(f"dice_{c}"), "iou": scores.get(f"iou_{c}")}
        for c in foreground
    ]
    return pd.DataFrame(rows)


def _prediction_grid(run: _Evaluated, args: EvaluationArgs, out_dir: Path) -> Path | None:
    """predictions.png: the first images, each as image / true mask / predicted mask (dice)."""
    table = run.table.head(min(args.grid_size, GRID_IMAGES))
    if table.empty:
        return None
    if run.truth is not None:
        truth = run.truth.drop_duplicates("image").set_index("image")["mask"]
        table = table.assign(true_mask=table["image"].map(truth))
    with_truth = "true_mask" in table
    tiles = [t for _, row in table.iterrows() for t in _triple(run, row, with_truth)]
    per_row = 6 if with_truth else 4
    rows = [tiles[i : i + per_row] for i in range(0, len(tiles), per_row)]
    title = f"predictions: {len(table)} of {len(run.table)} images (masks tinted)"
    return grid(rows, out_dir, "predictions.png", tile=1.9, title=title, caption_lines=1)
