"""Regression's part of the scikit-learn baseline (the runner is engine/baseline.py): a random
forest regressor on the same features (resized pixels or HOG) and folds as a classifier's,
scored like a network's CV run (oof.csv, cv_summary.csv: R², MAE, RMSE).

`visionfit baseline --csv t.csv --task regress --label-col y`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor

from visionfit.errors import DataError
from visionfit.tasks.base import BaselineFit, TaskData
from visionfit.tasks.regression.cv import score_folds, write_cv_outputs

BASELINE_MODELS = ("rf",)


class RegressionBaseline:
    """The `Task.baseline()` of regression: see tasks/base.py `Baseline`."""

    models = BASELINE_MODELS

    def resolve(self, cfg, data: TaskData):
        if cfg.model not in BASELINE_MODELS:
            raise DataError(
                f"baseline --model {cfg.model} is a classifier; --task regress has: "
                f"{', '.join(BASELINE_MODELS)} (a random-forest regressor)"
            )
        if cfg.class_weights != "none":
            raise DataError("--class-weights weighs classes; --task regress has none")
        cfg.threshold = "none"  # no decision threshold: config.yaml says so
        return cfg

    def targets(self, data: TaskData, df: pd.DataFrame) -> BaselineFit:
        y = df["value"].to_numpy(np.float64)
        return BaselineFit(targets=y, y_fit=y, n_outputs=1)

    def estimator(self, cfg, data: TaskData, y_train: np.ndarray, n_samples: int):
        return RandomForestRegressor(n_estimators=300, n_jobs=1, random_state=cfg.seed)

    def proba(self, pipeline, x: np.ndarray, meta: dict) -> np.ndarray:
        """(N, 1) values on the target's scale (the protocol's name)."""
        return np.asarray(pipeline.predict(x), np.float64).reshape(len(x), 1)

    def score(self, run_dir: Path, cfg, data: TaskData, df, fit: BaselineFit, oof, fold):
        pred = np.asarray(oof, np.float64).reshape(-1)
        scores = score_folds(fit.targets, pred, np.asarray(fold))
        scores.classes = list(data.classes)
        write_cv_outputs(run_dir, df["image"], fit.targets, pred, fold, scores)
        return scores

    def meta(self, cfg, scores) -> dict:
        return {"target": scores.classes[0] if scores.classes else "value"}
