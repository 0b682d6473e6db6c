"""Regression scores with scikit-learn (validation, test split, out-of-fold, baseline)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

METRICS = ("r2", "mae", "rmse")


def score(y_true, y_pred) -> dict[str, float]:
    """r2, mae, rmse of predictions on the target's own scale (NaN predictions left out)."""
    y, p = np.asarray(y_true, np.float64).reshape(-1), np.asarray(y_pred, np.float64).reshape(-1)
    ok = np.isfinite(p)
    y, p = y[ok], p[ok]
    if len(y) == 0:
        return {m: float("nan") for m in METRICS}
    r2 = float(r2_score(y, p)) if len(y) > 1 else float("nan")
    return {
        "r2": r2,
        "mae": float(mean_absolute_error(y, p)),
        "rmse": float(np.sqrt(mean_squared_error(y, p))),
    }
