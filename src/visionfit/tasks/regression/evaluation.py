"""`visionfit evaluate` for regression: besides metrics.json and predictions.csv (image, target,
prediction, residual), pred_vs_true.png, residuals.png, mistakes.png (the largest errors) and
predictions.png (each image titled with its predicted and true value)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from visionfit.plots.tiles import grid, load_image
from visionfit.tasks.base import EvaluationArgs, EvaluationFiles
from visionfit.tasks.regression.plots import plot_pred_vs_true, plot_residuals

N_WORST = 12


def evaluation_files(args: EvaluationArgs) -> EvaluationFiles:
    out_dir = Path(args.out_dir)
    table = pd.read_csv(out_dir / "predictions.csv", dtype={"image": str})
    found = EvaluationFiles()
    in_chans = int(args.predictor.meta.get("in_chans", 3))
    worst = table.reindex(table["residual"].abs().sort_values(ascending=False).index)
    for title, make in (
        ("Predictions", lambda: _grid(table.head(args.grid_size), in_chans, out_dir,
                                      "predictions.png", f"first {args.grid_size} images")),
        ("Predicted against true", lambda: plot_pred_vs_true(table, out_dir, "pred_vs_true.png")),
        ("Residuals", lambda: plot_residuals(table, out_dir, "residuals.png")),
        ("Largest errors", lambda: _grid(worst.head(N_WORST), in_chans, out_dir, "mistakes.png",
                                         "largest errors")),
    ):  # fmt: skip
        path = make()
        if path is not None:
            found.figures.append((title, path))
            found.files.append(path)
    return found


def _grid(rows: pd.DataFrame, in_chans: int, out_dir: Path, name: str, what: str):
    tiles = [
        (load_image(r["image"], in_chans), f"pred: {r['prediction']:.4g}\ntrue: {r['target']:.4g}")
        for _, r in rows.iterrows()
    ]
    if not tiles:
        return None
    title = f"{what}: predicted and true values"
    return grid([tiles[i : i + 6] for i in range(0, len(tiles), 6)], out_dir, name, title=title)
