"""Classification's part of cross-validation: out-of-fold probabilities, scores, oof.csv."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from visionfit.tasks.classification.calibration import apply_temperature, calibration_summary
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
        # ECE of the pooled out-of-fold probabilities; with --calibrate temperature, the one
        # temperature of the ensemble (and of a refit), fitted on them; the scores, the
        # threshold and oof.csv then use the calibrated probabilities, as predict gives them
        calibration = calibration_summary(
            self.probs, y, mode, self.cfg.train.calibrate, measured_on="out-of-fold"
        )
        probs = apply_temperature(self.probs, mode, calibration.get("temperature"))
        scores = score_folds(mode, classes, y, probs, fold, self.cfg.train.threshold)
        scores.calibration = calibration
        oof = oof_frame(df["image"], df["label"], fold, classes, mode, probs, scores.threshold)
        write_cv_outputs(run_dir, oof, scores)
        post = {
            "threshold": 0.5 if scores.threshold is None else scores.threshold,
            "threshold_method": self.cfg.train.threshold,
        }
        if "temperature" in calibration:  # members have their fold's; the ensemble uses this
            post["temperature"] = calibration["temperature"]
        fields = {"model": self.cfg.model.name, **scores.to_json(), **calibration}
        return scores, post, fields
