"""Segmentation's headline (the mean per-image dice) as a bootstrap `Scorer`: the mean of the
per-image dice a run wrote (val_scores.csv, oof_scores.csv, test_scores_per_image.csv),
vectorised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.tasks.base import split_file
from visionfit.tasks.intervals import Scorer, aligned_rows, mean_scorer

# else <split>_scores_per_image.csv; `visionfit evaluate`'s folder (no split): predictions.csv
FILES = {"val": "val_scores.csv", "oof": "oof_scores.csv", "": "predictions.csv"}


def segmentation_scorer(data, df: pd.DataFrame, run_dir: Path, of: str) -> Scorer | None:
    found = aligned_rows(
        Path(run_dir) / FILES.get(of, split_file(of, "scores_per_image.csv")), df, ["dice"]
    )
    if found is None or not len(found[0]):
        return None
    table, keep = found
    images = df["image"].astype(str).to_numpy()[keep]
    return mean_scorer("dice", images, table["dice"].to_numpy(np.float64))
