"""Near-duplicates in a run: groups for the split and the folds (--group-near-duplicates), and the
validation score again without the validation images that have a near-duplicate among the images
the model trained on (summary key `leakage_corrected`; the pairs in near_duplicates.csv).

Hashes are the scan's (data/scan.py, cached); pairs and groups are data/neardup.py's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.config import RunConfig
from visionfit.data.neardup import LEAKAGE, pair_table, with_near_duplicate_groups
from visionfit.errors import DataError
from visionfit.runs import files as run_files
from visionfit.runs.rundir import atomic_write_csv
from visionfit.tasks.base import Task, TaskData
from visionfit.tasks.intervals import subset_score
from visionfit.text import plural as _n


def group_near_duplicates(data: TaskData, max_distance: int) -> None:
    """Give `data.df` a `group` column in which each near-duplicate group is one group (merged
    with --group-col's), and say how many images it joined."""
    if not data.phash:
        raise DataError(
            "--group-near-duplicates needs the images' perceptual hashes, which this data's "
            "scan does not give"
        )
    had_groups = "group" in data.df.columns
    before = data.df["group"].nunique() if had_groups else len(data.df)
    old_split = data.df["split"].to_numpy()
    data.df = with_near_duplicate_groups(data.df, data.phash, max_distance)
    joined = before - data.df["group"].nunique()
    merged = " (merged with --group-col's groups)" if had_groups else ""
    moved = int((data.df["split"].to_numpy() != old_split).sum())
    data.notes.append(
        f"--group-near-duplicates: {_n(joined, 'near-duplicate image')} joined to a group "
        f"(pHash within {max_distance} bits){merged}: none straddles the split or the folds"
        + (
            f"; {_n(moved, 'image')} of the given split moved to their group's most held-out "
            "part (test, then val)"
            if moved
            else ""
        )
    )


def leaked_pairs(df: pd.DataFrame, phash: dict[str, str], max_distance: int, part: str):
    """Near-duplicate pairs across `df[part]`: "split" (a validation image first, its training
    near-duplicate second) or "fold" (a pair across two folds: each was validated by a model
    that trained on the other)."""
    pairs = pair_table(df.assign(split=df[part].astype(str)), phash, max_distance)
    pairs = pairs[pairs["kind"] == LEAKAGE].reset_index(drop=True)
    if part == "split":
        sides = pairs[["split_a", "split_b"]].apply(lambda r: set(r), axis=1)
        pairs = pairs[sides == {"train", "val"}].reset_index(drop=True)
        swap = (pairs["split_a"] == "train").to_numpy()
        cols_a = ["image_a", "label_a", "split_a"]
        cols_b = ["image_b", "label_b", "split_b"]
        pairs.loc[swap, cols_a + cols_b] = pairs.loc[swap, cols_b + cols_a].to_numpy()
    return pairs


def leakage_corrected(
    task: Task,
    cfg: RunConfig,
    data: TaskData,
    held_out: pd.DataFrame,
    probs: np.ndarray | None,
    post: dict,
    pairs: pd.DataFrame,
    run_dir: Path,
) -> dict:
    """Summary keys for a run's held-out rows (`held_out`, with `probs` in the same order):
    `leaked_val_images` (those with a near-duplicate in their training images: the first image
    of each of `pairs`), and `leakage_corrected`, the headline of the others;
    near_duplicates.csv gets `pairs`."""
    if pairs.empty:
        return {"leaked_val_images": 0}
    atomic_write_csv(run_dir / run_files.NEAR_DUPLICATES, pairs)
    leaked = set(pairs["image_a"])
    keep = ~held_out["image"].isin(leaked).to_numpy()
    out = {
        "leaked_val_images": int((~keep).sum()),
        "near_duplicate_distance": cfg.data.near_duplicate_distance,
    }
    value = None
    if probs is not None and len(probs) == len(held_out):
        value = task.rescore(data, held_out[keep], np.asarray(probs)[keep], post)
    if value is None:  # segmentation, regression: from the per-image scores the run wrote
        value = _from_run_files(task, data, held_out, run_dir, "val", held_out["image"][keep])
    if value is not None:
        out["leakage_corrected"] = value
    return out


def _from_run_files(task, data, rows: pd.DataFrame, run_dir: Path, of: str, kept) -> float | None:
    """The headline of the `kept` images among `rows`, from the per-image scores the run wrote
    (the interval's scorer, tasks/intervals.py); None when the task keeps none."""
    scorer = task.interval_scorer(data, rows, Path(run_dir), of)
    return None if scorer is None else subset_score(scorer, kept)


def run_leakage(task, cfg, data, df, probs, post, run_dir: Path) -> dict:
    """A hold-out run's leakage keys (see `leakage_corrected`); {} when near-duplicates are off
    or the scan gave no hashes."""
    if not cfg.data.near_duplicates or not data.phash:
        return {}
    seen = df[df["split"].isin(["train", "val"])]
    pairs = leaked_pairs(seen, data.phash, cfg.data.near_duplicate_distance, "split")
    val = df[df["split"] == "val"].reset_index(drop=True)
    return leakage_corrected(task, cfg, data, val, probs, post, pairs, run_dir)


def cv_leakage(task, cfg, data, fold: np.ndarray, probs, post: dict, run_dir: Path) -> dict:
    """A K-fold run's leakage keys: out-of-fold images with a near-duplicate in another fold
    (which trained the model that scored them); `leakage_corrected` is the mean over folds of
    each fold's headline without them (as the run's own score is a mean over folds),
    `leakage_corrected_oof` the pooled one. {} when near-duplicates are off."""
    if not cfg.data.near_duplicates or not data.phash:
        return {}
    df = data.df.assign(fold=fold)
    pairs = leaked_pairs(df, data.phash, cfg.data.near_duplicate_distance, "fold")
    if pairs.empty:
        return {"leaked_val_images": 0}
    atomic_write_csv(run_dir / run_files.NEAR_DUPLICATES, pairs)
    leaked = df["image"].isin(set(pairs["image_a"]) | set(pairs["image_b"])).to_numpy()
    out = {
        "leaked_val_images": int(leaked.sum()),
        "near_duplicate_distance": cfg.data.near_duplicate_distance,
    }
    if probs is None or len(probs) != len(df):
        # segmentation, regression: from the per-image out-of-fold scores the run wrote
        def rescore(rows):
            return _from_run_files(task, data, df, run_dir, "oof", df["image"][rows])
    else:
        probs = np.asarray(probs)

        def rescore(rows):
            return task.rescore(data, df[rows], probs[rows], post)

    per_fold = []
    for k in range(int(fold.max()) + 1):
        rows = (fold == k) & ~leaked
        per_fold.append(rescore(rows) if rows.any() else None)
    pooled = rescore(~leaked) if (~leaked).any() else None
    if pooled is None:
        return out
    defined = [v for v in per_fold if v is not None and not np.isnan(v)]
    out["leakage_corrected"] = float(np.mean(defined)) if defined else None
    out["leakage_corrected_per_fold"] = per_fold
    out["leakage_corrected_oof"] = pooled
    return out
