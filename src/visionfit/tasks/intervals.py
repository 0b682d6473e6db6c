"""Bootstrap confidence intervals on a headline score (percentile bootstrap).

The interval says how much the score could move if the *same model* were scored on another sample
of images like these: the validation images (or out-of-fold, or test images) are drawn again with
replacement, `resamples` times, and the score recomputed; the middle `level` of those scores is the
interval. When the run has groups (`--group-col`: patients, sessions...), whole groups are drawn,
since images of one group are not independent. It does not measure the variation from training
again (another seed, another split): that is the fold spread or the seed spread.

A resample on which the metric is undefined (ROC AUC when it holds one class) is dropped and
counted (`dropped`). The seed is fixed, so the numbers are reproducible.

>>> correct = np.array([1, 0, 1, 1] * 250, float)
>>> iv = bootstrap_interval(lambda w: w @ correct / w.sum(1), 1000, vectorised=True)
>>> round(iv["low"], 2), round(iv["high"], 2)
(0.72, 0.78)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_RESAMPLES = 1000
# resamples per block of the vectorised path: a (block, n) weight matrix at a time
_BLOCK_CELLS = 4_000_000


@dataclass
class Scorer:
    """A task's headline score over rows it can resample: `images` names each row (to find its
    group); `score(idx)` scores the rows `idx` (with repeats), or `weighted(W)` scores every row of
    a (resamples, n) matrix of row multiplicities at once (cheap metrics: a mean, R²)."""

    metric: str
    images: np.ndarray
    value: float  # the score of all rows, the one the interval is around
    score: Callable[[np.ndarray], float] | None = None
    weighted: Callable[[np.ndarray], np.ndarray] | None = None
    resamples_cap: int | None = None  # an expensive metric's lower resample count
    cap_reason: str = ""


def bootstrap_interval(
    score_fn: Callable,
    n: int,
    groups=None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
    *,
    vectorised: bool = False,
) -> dict | None:
    """The percentile bootstrap interval of `score_fn` over `n` rows; None with fewer than 2
    units (rows, or groups) or no defined resample.

    `score_fn(idx)` scores the rows `idx` (an int array, repeats allowed); with `vectorised` it
    instead gets a (B, n) float matrix of each row's multiplicity in B resamples and returns B
    scores. `groups` (one key per row): whole groups are drawn. Returns low, high, level, n (units
    drawn from), resamples (defined ones), unit ("images" | "groups"), dropped (undefined ones)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    codes, units = _units(n, groups)
    if units < 2 or resamples < 1:
        return None
    draws = _draws(seed, resamples, units, rows=n)
    if vectorised:
        scores = np.concatenate([_weighted_scores(score_fn, d, codes, units) for d in draws])
    else:
        members = None if groups is None else _members(codes, units)
        scores = np.array(
            [_one(score_fn, d, members) for block in draws for d in block], dtype=np.float64
        )
    kept = scores[np.isfinite(scores)]
    if not len(kept):
        return None
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(kept, [tail, 100 - tail])
    return {
        "low": float(low),
        "high": float(high),
        "level": level,
        "n": units,
        "resamples": len(kept),
        "unit": "images" if groups is None else "groups",
        "dropped": int(resamples - len(kept)),
    }


def scorer_interval(
    scorer: Scorer, groups=None, resamples: int = DEFAULT_RESAMPLES, seed: int = 0, **kw
) -> dict | None:
    """`bootstrap_interval` of a task's `Scorer`, with the metric and the score it is around;
    `resamples` lowered to the scorer's cap (an expensive metric), said in `note`."""
    n = len(scorer.images)
    wanted = resamples
    if scorer.resamples_cap is not None:
        resamples = min(resamples, scorer.resamples_cap)
    if scorer.weighted is not None:
        iv = bootstrap_interval(scorer.weighted, n, groups, resamples, seed, vectorised=True, **kw)
    else:
        iv = bootstrap_interval(scorer.score, n, groups, resamples, seed, **kw)
    if iv is None:
        return None
    iv = {**iv, "metric": scorer.metric, "score": scorer.value, "n_images": n}
    if resamples < wanted:
        iv["note"] = f"{resamples} resamples, not {wanted}: {scorer.cap_reason}"
    return iv


def subset_score(scorer: Scorer, images) -> float | None:
    """The scorer's headline over only the rows whose image is in `images` (engine/leakage.py:
    the score without the leaked validation images); None when no row is left."""
    idx = np.flatnonzero(np.isin(scorer.images, np.asarray(list(images), dtype=object)))
    if not len(idx):
        return None
    if scorer.score is not None:
        return float(scorer.score(idx))
    weights = np.zeros((1, len(scorer.images)))
    weights[0, idx] = 1.0
    return float(scorer.weighted(weights)[0])


def headline_interval(task, data, df, run_dir, of: str, *, resamples: int, seed: int):
    """The interval around the headline score of `df`'s rows as step `of` scored them in
    `run_dir` (`Task.interval_scorer`: "val", "oof", a split's name such as "test", or "" for
    `visionfit evaluate`'s folder); None when `resamples` is 0, nothing was scored or the task
    keeps no per-image scores. Whole groups are resampled when the rows have groups."""
    if resamples <= 0 or df is None or not len(df):
        return None
    scorer = task.interval_scorer(data, df, Path(run_dir), of)
    if scorer is None or not len(scorer.images):
        return None
    iv = scorer_interval(scorer, _groups(df, scorer.images), resamples, seed=seed)
    if iv is not None:
        iv["of"] = _OF.get(of, f"{of} split" if of else "data evaluated")
    return iv


_OF = {"val": "validation split", "oof": "pooled out-of-fold predictions"}


def _groups(df: pd.DataFrame, images) -> list[str] | None:
    """Each scored image's group (`--group-col`), or None when the rows have no groups."""
    if "group" not in df.columns:
        return None
    keys = df["group"]
    if keys.isna().all() or (keys.astype(str) == "").all():
        return None
    by_image = dict(zip(df["image"].astype(str), keys.astype(str), strict=True))
    return [by_image[i] for i in images]


def interval_text(iv: dict | None, digits: int = 3) -> str:
    """`[0.936, 0.946]`, or "" without an interval."""
    if not iv or iv.get("low") is None:
        return ""
    return f"[{iv['low']:.{digits}f}, {iv['high']:.{digits}f}]"


def interval_line(iv: dict) -> str:
    """`acc 0.941 [0.936, 0.946] (95 % bootstrap interval, 1000 resamples of the 2000 images of
    the validation split)`: a summary's interval as the console and the report show it."""
    level = f"{iv.get('level', 0.95) * 100:g} %"
    dropped = f", {iv['dropped']} undefined dropped" if iv.get("dropped") else ""
    note = f"; {iv['note']}" if iv.get("note") else ""
    return (
        f"{iv.get('metric', 'score')} {iv.get('score', math.nan):.3f} {interval_text(iv)} "
        f"({level} bootstrap interval, {iv.get('resamples')} resamples of the {iv.get('n')} "
        f"{iv.get('unit', 'images')} of the {iv.get('of', 'scored images')}{dropped}{note})"
    )


def mean_scorer(metric: str, images, values) -> Scorer:
    """A score that is the mean of a per-row value (accuracy: 0/1 correct; per-image dice)."""
    v = np.asarray(values, np.float64)
    return Scorer(metric, np.asarray(images), float(v.mean()), weighted=lambda w: w @ v / w.sum(1))


def aligned_rows(path: Path, df: pd.DataFrame, columns: list[str]):
    """`path`'s `columns` (a predictions file the run wrote) in `df`'s image order, and the mask
    of `df`'s rows found there with every column present; None when the file or a column is
    missing."""
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    if "image" not in table.columns or any(c not in table.columns for c in columns):
        return None
    table["image"] = table["image"].astype(str)
    table = table.drop_duplicates("image").set_index("image")
    out = table.reindex(df["image"].astype(str).to_numpy())[columns]
    keep = out.notna().all(axis=1).to_numpy()
    return out[keep], keep


def _units(n: int, groups) -> tuple[np.ndarray | None, int]:
    if groups is None:
        return None, int(n)
    keys = np.asarray(groups, dtype=object)
    if len(keys) != n:
        raise ValueError(f"{len(keys)} group keys for {n} rows")
    _, codes = np.unique(keys.astype(str), return_inverse=True)
    return codes, int(codes.max()) + 1 if n else 0


def _members(codes: np.ndarray, units: int) -> list[np.ndarray]:
    order = np.argsort(codes, kind="stable")
    return np.split(order, np.cumsum(np.bincount(codes, minlength=units))[:-1])


def _one(score_fn, draw: np.ndarray, members) -> float:
    idx = draw if members is None else np.concatenate([members[g] for g in draw])
    try:
        value = score_fn(idx)
    except ValueError:  # the metric is undefined on this resample (one class)
        return math.nan
    return math.nan if value is None else float(value)


def _draws(seed: int, resamples: int, units: int, rows: int):
    """The (resamples, units) draws a block of resamples at a time (at most _BLOCK_CELLS cells
    of row weights; units, groups or rows, are never more than the rows): the same numbers as
    one draw of the whole matrix, which at 2 million validation images would hold 16 GB."""
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_CELLS // max(rows, 1))
    for start in range(0, resamples, block):
        yield rng.integers(0, units, size=(min(block, resamples - start), units))


def _weighted_scores(score_fn, d: np.ndarray, codes, units: int) -> np.ndarray:
    """One block of resamples scored at once: each resample's unit counts as row weights."""
    offsets = np.arange(len(d))[:, None] * units
    counts = np.bincount((d + offsets).ravel(), minlength=len(d) * units)
    counts = counts.reshape(len(d), units).astype(np.float64)
    weights = counts if codes is None else counts[:, codes]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(score_fn(weights), np.float64)
