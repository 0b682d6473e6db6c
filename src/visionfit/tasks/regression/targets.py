"""Regression targets: numbers from a CSV column, quantile bins to stratify on, and the scaling
the network is trained in (the training split's mean and standard deviation)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from visionfit.errors import DataError

MAX_BINS = 5  # quantile bins splits and folds are stratified on


def parse_targets(labels: pd.Series, lines: list[int], column: str) -> np.ndarray:
    """The column's values as float32; non-numeric, empty, NaN or infinite values are a
    DataError naming the CSV lines (the header is line 1)."""
    values = pd.to_numeric(labels.str.strip(), errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        where = [f"line {lines[i]} ({labels.iloc[i]!r})" for i in np.flatnonzero(bad)[:5]]
        more = ", ..." if bad.sum() > 5 else ""
        raise DataError(
            f"{int(bad.sum())} CSV rows have a {column!r} that is not a finite number: "
            f"{', '.join(where)}{more}; --task regress needs a number in every row"
        )
    return values.astype(np.float32)


def quantile_bins(values: np.ndarray, n_bins: int = MAX_BINS) -> np.ndarray:
    """Bin index (0..k-1) of each value by quantile: what splits and folds stratify on, so
    that every fold sees low, middle and high targets alike."""
    n = len(values)
    k = max(1, min(n_bins, n // 10))
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    bins = pd.qcut(pd.Series(values).rank(method="first"), q=k, labels=False)
    return bins.to_numpy(np.int64)


@dataclass(frozen=True)
class TargetScaling:
    """y_scaled = (y - mean) / std, fitted on a training split; stored in model.json."""

    mean: float
    std: float

    @classmethod
    def fit(cls, values: np.ndarray) -> TargetScaling:
        v = np.asarray(values, np.float64)
        std = float(v.std()) if len(v) > 1 else 0.0
        return cls(float(v.mean()) if len(v) else 0.0, std if std > 1e-12 else 1.0)

    def scale(self, y):
        return (y - self.mean) / self.std

    def unscale(self, z):
        return z * self.std + self.mean

    def to_json(self) -> dict:
        return {"target_mean": self.mean, "target_std": self.std}

    @classmethod
    def from_meta(cls, meta: dict) -> TargetScaling:
        mean, std = meta.get("target_mean"), meta.get("target_std")
        if mean is None or std is None or not math.isfinite(std) or std <= 0:
            from visionfit.errors import RunError

            raise RunError("model.json of a regression run has no valid target_mean/target_std")
        return cls(float(mean), float(std))


def value_targets(df: pd.DataFrame) -> np.ndarray:
    """(N, 1) float32 targets on the original scale, as the dataset class takes them."""
    return df["value"].to_numpy(np.float32).reshape(-1, 1)


def target_stats(values) -> dict:
    """n, mean, std, min, max of the target (summary.json, `visionfit check`)."""
    v = np.asarray(values, np.float64)
    return {
        "n": int(len(v)),
        "mean": float(v.mean()) if len(v) else None,
        "std": float(v.std()) if len(v) else None,
        "min": float(v.min()) if len(v) else None,
        "max": float(v.max()) if len(v) else None,
    }
