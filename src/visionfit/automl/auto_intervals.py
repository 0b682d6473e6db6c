"""`auto`'s leaderboard columns about how far a score can be trusted: each run's bootstrap
interval (its summary.json's `interval`: the validation images resampled; engine/intervals.py),
the best run's test interval, and the seed spread when one network was trained with several
seeds (the variation from training again, which an interval does not show)."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from visionfit.runs.summary import try_read_summary


def stage_interval(stage: dict) -> tuple[float, float]:
    """(low, high) of a run stage's validation (a baseline's out-of-fold) interval; NaN for
    stages without one (an ensemble, a run with --bootstrap 0)."""
    run_dir = stage.get("run_dir")
    summary = try_read_summary(Path(run_dir)) if run_dir else None
    iv = summary.get("interval") if summary is not None else None
    if not isinstance(iv, dict):
        return math.nan, math.nan
    return float(iv["low"]), float(iv["high"])


def seed_spreads(stages: list[dict]) -> dict[str, str]:
    """network name -> "min–max, mean ± sd over N seeds" of its finished runs' validation
    scores, for networks trained with more than one seed."""
    scores: dict[str, list[float]] = {}
    for s in stages:
        if s["kind"] == "network" and s.get("status") == "done" and s.get("val") is not None:
            scores.setdefault(s["name"], []).append(float(s["val"]))
    return {
        name: (
            f"{min(v):.4f}–{max(v):.4f}, {statistics.mean(v):.4f} ± {statistics.stdev(v):.4f} "
            f"over {len(v)} seeds"
        )
        for name, v in scores.items()
        if len(v) > 1
    }
