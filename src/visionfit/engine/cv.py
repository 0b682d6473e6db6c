"""K-fold cross-validation: an outer loop over `train_split`, one fresh model per fold.

The fold assignment is written to ``folds.csv`` before any training. Fold k trains on the other
folds and validates on fold k in ``fold_<k>/`` (checkpoints, metrics.csv, bundle); its best
model's probabilities on fold k become that fold's rows of ``oof.csv``. Only one fold's model is
alive at a time. The run's ``model.json`` makes the folds an ensemble for ``visionfit predict``;
``--refit`` then trains one model on all images for the mean best epoch count (``refit/``).
Fold k uses seed ``train.seed + k`` so that the ensemble's members differ.
"""

from __future__ import annotations

import gc
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from rich.console import Console

from visionfit.config import RunConfig
from visionfit.data.check import drop_unusable
from visionfit.data.folds import make_folds, read_folds_file, resolve_fold_kind
from visionfit.data.sources import Samples, load_samples, resolve_task
from visionfit.engine.cvreport import (
    CVScores,
    oof_frame,
    score_folds,
    write_cv_outputs,
)
from visionfit.engine.ensemble import write_ensemble_meta
from visionfit.engine.fit import (
    _create_model,
    quiet_lightning,
    resolve_config,
    split_targets,
    train_split,
)
from visionfit.engine.rundir import atomic_write_csv, atomic_write_text, create_run_dir
from visionfit.errors import DataError
from visionfit.models.factory import check_model_name


@dataclass
class CVResult:
    run_dir: Path
    task: str
    classes: list[str]
    folds: int
    fold_kind: str
    scores: CVScores
    best_epochs: list[int]
    seconds: float
    n_samples: int
    weights_source: str
    refit_dir: Path | None = None
    notes: list[str] = field(default_factory=list)


def assign_folds(samples: Samples, cfg: RunConfig, task: str) -> tuple[pd.DataFrame, str]:
    """folds.csv's table (image, label, fold[, group]) and the fold kind it was made with."""
    has_groups = "group" in samples.df.columns
    if cfg.cv.folds_file:
        folds = read_folds_file(cfg.cv.folds_file, samples.df)
        n = int(folds["fold"].max()) + 1
        if cfg.cv.folds > 1 and cfg.cv.folds != n:
            raise DataError(
                f"--folds {cfg.cv.folds} but {cfg.cv.folds_file} has {n} folds: "
                "drop --folds to use the file's"
            )
        return folds, "file"
    kind = resolve_fold_kind(cfg.cv.kind, task, has_groups)
    return make_folds(samples.df, cfg.cv.folds, kind, cfg.train.seed), kind


def cross_validate(cfg: RunConfig, *, progress: bool = True) -> CVResult:
    """Train one model per fold as described by `cfg` (cfg.cv: folds, kind, folds_file, refit).

    >>> cfg = RunConfig.from_dict({"data": {"path": "data/"}, "cv": {"folds": 5}})
    >>> result = cross_validate(cfg)
    >>> result.scores.headline()

    With ``data.task: segment`` this is `seg_cv.cross_validate_segmentation` (a SegCVResult).
    """
    if cfg.data.task == "segment":
        from visionfit.engine.seg_cv import cross_validate_segmentation

        return cross_validate_segmentation(cfg, progress=progress)
    t_start = time.perf_counter()
    quiet_lightning()
    console = Console(stderr=True, quiet=not progress)
    samples = load_samples(cfg.data, missing_files="skip")
    task = resolve_task(samples, cfg.data.task)
    check_model_name(cfg.model.name)
    cfg = resolve_config(cfg, task)
    # The same scan as a single run: unusable files are left out and listed in skipped.csv.
    usable = drop_unusable(samples, cfg.data, progress=progress)
    samples = usable.samples
    if samples.has_split:
        console.print(
            "[yellow]the data comes split into train/ and val/: cross-validation pools both "
            "and makes its own folds[/]"
        )
    df = samples.df.reset_index(drop=True)
    folds, kind = assign_folds(samples, cfg, task)
    n_folds = int(folds["fold"].max()) + 1
    cfg = cfg.with_overrides(
        {"cv.folds": n_folds, "cv.kind": kind if kind != "file" else cfg.cv.kind}
    )
    # Build fold 0's model before the run directory exists: a bad model name or unavailable
    # weights fail without leaving an empty run behind.
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    created = _create_model(cfg, task, len(samples.classes))
    weights_source = created.weights_source

    run_dir = create_run_dir(cfg.runs_dir, cfg.name or f"{cfg.model.name}-cv")
    atomic_write_text(run_dir / "config.yaml", cfg.to_yaml())
    atomic_write_text(run_dir / "classes.json", json.dumps(samples.classes, indent=2))
    atomic_write_csv(run_dir / "folds.csv", folds)
    atomic_write_csv(run_dir / "skipped.csv", usable.skipped)

    fold = folds["fold"].to_numpy()
    oof_probs = np.full((len(df), len(samples.classes)), np.nan)
    best_epochs: list[int] = []
    members = []
    for k in range(n_folds):
        val_idx = np.flatnonzero(fold == k)
        train_df, val_df = df.iloc[np.flatnonzero(fold != k)], df.iloc[val_idx]
        fold_dir = run_dir / f"fold_{k}"
        fold_dir.mkdir()
        console.rule(f"fold {k + 1}/{n_folds}: {len(train_df)} train / {len(val_df)} val")
        fold_cfg = cfg.with_overrides({"train.seed": cfg.train.seed + k})
        split = train_split(
            fold_cfg,
            task,
            samples.classes,
            train_df,
            val_df,
            fold_dir,
            progress=progress,
            created=created,  # fold 0 only; then None: each fold builds its own
        )
        oof_probs[val_idx] = split.val_probs
        best_epochs.append(split.best_epoch)
        members.append(fold_dir.name)
        monitor = cfg.train.monitor
        console.print(
            f"fold {k + 1}/{n_folds}: best epoch {split.best_epoch}, "
            f"{monitor} {split.best_metrics.get(monitor, math.nan):.4f}"
        )
        # Never keep K models alive: drop this fold's network before the next one is built.
        del split
        created = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    y = split_targets(df, task)
    scores = score_folds(task, samples.classes, y, oof_probs, fold, cfg.train.threshold)
    oof = oof_frame(
        df["image"], df["label"], fold, samples.classes, task, oof_probs, scores.threshold
    )
    write_cv_outputs(run_dir, oof, scores)
    write_ensemble_meta(
        run_dir,
        members,
        {
            # arg-max tasks keep the key (as single bundles do); predict ignores it for them
            "threshold": 0.5 if scores.threshold is None else scores.threshold,
            "threshold_method": cfg.train.threshold,
        },
    )

    refit_dir = None
    if cfg.cv.refit:
        refit_dir = _refit(cfg, task, samples.classes, df, run_dir, best_epochs, scores, progress)

    seconds = time.perf_counter() - t_start
    result = CVResult(
        run_dir=run_dir,
        task=task,
        classes=samples.classes,
        folds=n_folds,
        fold_kind=kind,
        scores=scores,
        best_epochs=best_epochs,
        seconds=seconds,
        n_samples=len(df),
        weights_source=weights_source,
        refit_dir=refit_dir,
        notes=samples.notes,
    )
    summary = {
        "kind": "cv",
        "run_dir": str(run_dir),
        "task": task,
        "classes": samples.classes,
        "model": cfg.model.name,
        "folds": n_folds,
        "fold_kind": kind,
        "folds_file": cfg.cv.folds_file,
        "n_samples": len(df),
        "monitor": cfg.train.monitor,
        "best_epochs": best_epochs,
        **scores.to_json(),
        "refit_dir": str(refit_dir) if refit_dir else None,
        "seconds": seconds,
        "ignored_files": samples.ignored_files,
        "notes": samples.notes,
    }
    atomic_write_text(run_dir / "summary.json", json.dumps(json_safe(summary), indent=2))
    return result


def _refit(cfg, task, classes, df, run_dir, best_epochs, scores, progress) -> Path:
    """One model on every image for the mean best epoch count (epochs, not indices: +1)."""
    epochs = max(1, int(round(float(np.mean(best_epochs)) + 1)))
    refit_cfg = cfg.with_overrides({"train.epochs": epochs, "train.patience": None})
    out = run_dir / "refit"
    out.mkdir()
    Console(stderr=True, quiet=not progress).rule(f"refit on all {len(df)} images, {epochs} epochs")
    with warnings.catch_warnings():  # "validation_step but no val_dataloader": on purpose
        warnings.filterwarnings("ignore", ".*val_dataloader.*")
        split = train_split(
            refit_cfg,
            task,
            classes,
            df,
            df.iloc[:0],
            out,
            progress=progress,
            threshold=scores.threshold,
        )
    del split
    gc.collect()
    atomic_write_text(out / "config.yaml", refit_cfg.to_yaml())
    return out


def json_safe(obj):
    """NaN (an AUC undefined on a fold) becomes null: summary.json stays strict JSON."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj
