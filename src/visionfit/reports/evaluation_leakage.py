"""`visionfit evaluate`: evaluated images that are near-duplicates of images the run trained on.

A test folder that holds copies of training images (resized, re-saved) scores the model on what
it has seen. The evaluated images' perceptual hashes (the scan's) are compared with those of the
run's training images (splits.csv's train rows; a K-fold run: every row of folds.csv, since its
fold models together trained on all of them); pairs within `data.near_duplicate_distance` bits go
to near_duplicates.csv, and the score is computed again without those images (the task's
per-image scorer, as the interval uses it).
"""

from __future__ import annotations

from pathlib import Path

from visionfit.data.neardup import leaked_images
from visionfit.data.scan import scan_files
from visionfit.fileio import atomic_write_csv
from visionfit.runs import files as run_files
from visionfit.tasks.intervals import subset_score
from visionfit.text import plural


def trained_images(run_dir: Path) -> list[str]:
    """The images the run's model trained on (see the module); [] when it lists none."""
    splits = run_files.read_splits(run_dir)
    if splits is not None and {"image", "split"} <= set(splits.columns):
        return [str(p) for p in splits.loc[splits["split"] == "train", "image"]]
    folds = run_files.read_folds(run_dir)
    if folds is not None and "image" in folds.columns:
        return [str(p) for p in folds["image"]]
    return []


def evaluation_leakage(task, cfg, data, run_dir: Path, out_dir: Path) -> tuple[dict, list[str]]:
    """metrics.json's `leaked_images` (and `leakage_corrected` when the task keeps per-image
    scores) and the notes to print; ({}, []) when near-duplicates are off or nothing to compare."""
    if not cfg.data.near_duplicates or not data.phash:
        return {}, []
    trained = [p for p in trained_images(run_dir) if Path(p).is_file()]
    if not trained:
        return {}, []
    scan = scan_files(
        trained, max_pixels=cfg.data.max_pixels, description="hashing training images"
    )
    phash = {**{f.image: f.phash for f in scan.files if f.ok}, **data.phash}
    evaluated = list(data.df["image"])
    pairs = leaked_images(evaluated, trained, phash, cfg.data.near_duplicate_distance)
    out = {"leaked_images": int(pairs["held_out"].nunique())}
    if pairs.empty:
        return out, []
    atomic_write_csv(out_dir / run_files.NEAR_DUPLICATES, pairs)
    leaked = set(pairs["held_out"])
    note = (
        f"{plural(len(leaked), 'evaluated image')} of {len(evaluated)} near-duplicate to images "
        f"the run trained on (pHash within {cfg.data.near_duplicate_distance} bits; "
        f"{run_files.NEAR_DUPLICATES})"
    )
    scorer = task.interval_scorer(data, data.df, out_dir, "")
    kept = [p for p in evaluated if p not in leaked]
    value = subset_score(scorer, kept) if scorer is not None and kept else None
    if value is not None:
        out["leakage_corrected"] = value
        note += f"; without them: {scorer.metric} {value:.4f} (with them: {scorer.value:.4f})"
    return out, [note]
