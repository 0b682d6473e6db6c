"""plots/mistakes.png: the validation images the model gets most wrong (fastai's
`plot_top_losses`), each with its true class, prediction and the probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.reports._run import RunView
from visionfit.reports._tiles import grid, load_image
from visionfit.reports.predictions import label_indices, probability_matrix, validation_predictions

N_WORST = 12


def top_losses(df: pd.DataFrame, classes: list[str], n: int = N_WORST) -> pd.DataFrame:
    """The n rows with the largest cross-entropy -log p(true class), largest first."""
    y = label_indices(df, classes)
    probs = probability_matrix(df, classes)
    p_true = probs[np.arange(len(df)), np.clip(y, 0, None)]
    out = df.assign(p_true=p_true, loss=-np.log(np.clip(p_true, 1e-12, 1.0)))
    return out.sort_values("loss", ascending=False, kind="stable").head(n)


def plot_mistakes(run: RunView, out_dir: Path) -> Path | None:
    df = validation_predictions(run)
    if df is None or df.empty:
        return None
    worst = top_losses(df, run.classes)
    in_chans = int(run.meta.get("in_chans", 3))
    tiles = []
    for _, r in worst.iterrows():
        p_pred = float(r[f"prob_{r['pred']}"]) if f"prob_{r['pred']}" in r else float("nan")
        mark = "" if r["pred"] == r["label"] else "✗ "
        caption = (
            f"{mark}true {r['label']} / pred {r['pred']}\n"
            f"P(pred) {p_pred:.2f}  P(true) {r['p_true']:.2f}"
        )
        tiles.append((load_image(r["image"], in_chans), caption))
    rows = [tiles[i : i + 6] for i in range(0, len(tiles), 6)]
    wrong = int((df["pred"] != df["label"]).sum())
    title = f"highest-loss images ({wrong} of {len(df)} wrong; loss = -log P(true))"
    return grid(rows, out_dir, "mistakes.png", tile=2.0, title=title)
