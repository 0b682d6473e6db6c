"""Classification's part of cross-validation: out-of-fold probabilities, scores, oof.csv."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from visionfit.tasks.classification.cvreport import (
    CVScores,
    oof_frame,
    score_folds,
    write_cv_outputs,
)
from visionfit.tasks.classification.targets import split_targets
from visionfit.text import score_text


class ClassificationCV:
    """Collects each fold's out-of-fold probabilities, then scores them (engine/cv.py)."""

    def __init__(self, cfg, data, df: pd.DataFrame):
        self.cfg, self.data, self.df = cfg, data, df
        self.probs = np.full((len(df), len(data.classes)), np.nan)

    def add(self, k: int, split, val_idx: np.ndarray, fold_dir) -> str:
        """Record fold k's validation probabilities; returns the line printed for the fold."""
        self.probs[val_idx] = split.val_probs
        monitor = self.cfg.train.monitor
        return f"{monitor} {score_text(split.best_metrics.get(monitor, math.nan))}"

    def finish(self, run_dir, fold: np.ndarray) -> tuple[CVScores, dict, dict]:
        """Score the folds and write oof.csv / cv_summary.csv. Returns the scores, the ensemble's
        post-processing (stored in its model.json, used by a refit) and summary.json fields."""
        mode, classes, df = self.data.label_mode, self.data.classes, self.df
        y = split_targets(df, mode)
        scores = score_folds(mode, classes, y, self.probs, fold, self.cfg.train.threshold)
        oof = oof_frame(df["image"], df["label"], fold, classes, mode, self.probs, scores.threshold)
        write_cv_outputs(run_dir, oof, scores)
        post = {
            "threshold": 0.5 if scores.threshold is None else scores.threshold,
            "threshold_method": self.cfg.train.threshold,
        }
        return scores, post, {"model": self.cfg.model.name, **scores.to_json()}
