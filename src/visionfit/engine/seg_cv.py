"""K-fold cross-validation for segmentation, and the fold ensemble that predicts with it.

`cross_validate_segmentation(cfg)` (``visionfit train DATA --task segment --folds K``):

- ``folds.csv`` is written before any training: one row per image (image, label, fold), the label
  being ``empty`` / ``non_empty`` (the mask has no foreground / some). Folds are stratified on it
  (what matters for pneumothorax-like data where most masks are empty), KFold when a kind has
  fewer images than folds or with ``--cv kfold``; ``--folds-file`` reuses a folds.csv.
- fold k trains a fresh network on the other folds with `train_seg_split` (seed ``seed + k``) in
  ``fold_<k>/`` (checkpoints, metrics.csv, bundle, val_predictions/, val_scores.csv: its
  out-of-fold images predicted at their original size with the fold's own post-processing).
  Only one fold's network is alive at a time.
- ``oof_scores.csv``: every image's out-of-fold dice / IoU (the folds' val_scores.csv stacked);
  ``cv_summary.csv``: one row per fold, then ``mean`` and ``std`` (ddof=0) over the folds and
  ``oof`` (the mean over all images of their out-of-fold scores).
- the ensemble's post-processing (binary masks): the probability threshold and minimum component
  area are tuned on the pooled out-of-fold foreground probabilities of all folds (at the training
  size, stored as uint8) when they fit in `POOLED_TUNE_BYTES`; otherwise they are the mean of the
  folds' own tuned values. ``model.json`` says which (``postprocess.method``).
- the top-level ``model.json`` (``"kind": "cv"``, ``"task": "segment"``, ``members``) makes
  `visionfit.load(run_dir)` a `SegPredictor` over all fold models: the mean of their
  probabilities (then TTA flips, if asked, are averaged too), post-processed once.
"""

from __future__ import annotations

import gc
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader

from visionfit.config import RunConfig
from visionfit.data.folds import make_folds, read_folds_file
from visionfit.data.seg_datasets import SegDataset, create_seg_transforms
from visionfit.engine.bundle import load_bundle_model
from visionfit.engine.ensemble import ENSEMBLE_FORMAT, read_run_meta
from visionfit.engine.fit import quiet_lightning
from visionfit.engine.rundir import atomic_write_csv, atomic_write_text, create_run_dir
from visionfit.engine.segment import (
    SegPredictor,
    _check_img_size,
    _collect_val_probs,
    _create,
    _load_with_progress,
    _run_name,
    resolve_seg_config,
    train_seg_split,
)
from visionfit.errors import DataError, ModelError, RunError
from visionfit.tasks.seg_postprocess import tune_postprocess

# Pooled out-of-fold probabilities (uint8, one byte per pixel at the training size) above this
# size are not kept: the ensemble then uses the mean of the folds' tuned post-processing.
POOLED_TUNE_BYTES = 1 << 30
# Every fold model must be fed and decoded the same way for one batch to serve them all.
_SHARED_KEYS = ("task", "classes", "num_classes", "in_chans", "img_size", "mean", "std")


@dataclass
class SegCVResult:
    run_dir: Path
    task: str
    classes: list[str]
    folds: int
    fold_kind: str
    per_fold: list[dict[str, float]]
    mean: dict[str, float]
    std: dict[str, float]
    oof: dict[str, float]
    postprocess: dict
    best_epochs: list[int]
    seconds: float
    n_samples: int
    weights_source: str
    notes: list[str] = field(default_factory=list)

    def headline(self) -> str:
        return (
            f"dice: {self.mean.get('dice', math.nan):.4f} ± {self.std.get('dice', math.nan):.4f} "
            f"(mean ± std over {self.folds} folds); out-of-fold mean per-image dice: "
            f"{self.oof.get('dice', math.nan):.4f}"
        )


def assign_seg_folds(df: pd.DataFrame, cfg: RunConfig) -> tuple[pd.DataFrame, str]:
    """folds.csv's table (image, label, fold) and the kind it was made with. `df` needs
    image, label (empty / non_empty) and target (0 / 1)."""
    cv = cfg.cv
    if cv.folds_file:
        folds = read_folds_file(cv.folds_file, df)
        n = int(folds["fold"].max()) + 1
        if cv.folds > 1 and cv.folds != n:
            raise DataError(
                f"--folds {cv.folds} but {cv.folds_file} has {n} folds: "
                "drop --folds to use the file's"
            )
        return folds, "file"
    if cv.kind in ("group", "multilabel"):
        raise DataError(
            f"--cv {cv.kind} is not available for segmentation: use --cv stratified (on empty / "
            "non-empty masks, the default) or --cv kfold, or give --folds-file"
        )
    kind = cv.kind
    if kind == "auto":
        smallest = int(df["target"].value_counts().min()) if df["target"].nunique() > 1 else 0
        kind = "stratified" if smallest >= cv.folds else "kfold"
    return make_folds(df, cv.folds, kind, cfg.train.seed), kind


def cross_validate_segmentation(cfg: RunConfig, *, progress: bool = True) -> SegCVResult:
    """Train one segmenter per fold (cfg.cv: folds, kind, folds_file) and write the CV run.

    >>> cfg = RunConfig.from_dict({"data": {"path": "data/", "task": "segment"},
    ...                            "segment": {"arch": "unet"}, "cv": {"folds": 5}})
    >>> result = cross_validate_segmentation(cfg)
    >>> visionfit.load(result.run_dir).predict(["a.png"], masks_dir="masks/")
    """
    t_start = time.perf_counter()
    quiet_lightning()
    console = Console(stderr=True, quiet=not progress)
    if cfg.model.name != "simple_cnn" or cfg.model.pretrained or cfg.model.weights:
        raise ModelError(
            "--model/--pretrained/--weights choose classifiers; for --task segment choose the "
            "network with --arch, --encoder and --encoder-weights (imagenet | none | PATH)"
        )
    if cfg.cv.refit:
        raise DataError(
            "--refit is not available for segmentation yet: predict with the fold ensemble "
            "(the CV run), or train one model on all data without --folds"
        )
    samples = _load_with_progress(cfg, progress)
    cfg = resolve_seg_config(cfg, samples)
    # Build fold 0's network first: a bad --arch/--img-size fails before the run dir exists.
    created = _create(cfg)
    _check_img_size(cfg, created)
    weights_source = created.weights_source

    df = samples.df.reset_index(drop=True).copy()
    if samples.has_split:
        console.print(
            "[yellow]the data comes split into train/ and val/: cross-validation pools both "
            "and makes its own folds[/]"
        )
    df["target"] = (~df["empty_mask"]).astype(int)
    df["label"] = np.where(df["empty_mask"], "empty", "non_empty")
    folds, kind = assign_seg_folds(df, cfg)
    n_folds = int(folds["fold"].max()) + 1
    cfg = cfg.with_overrides(
        {"cv.folds": n_folds, "cv.kind": kind if kind != "file" else cfg.cv.kind}
    )

    run_dir = create_run_dir(cfg.runs_dir, f"{_run_name(cfg)}-cv")
    atomic_write_text(run_dir / "config.yaml", cfg.to_yaml())
    atomic_write_text(run_dir / "classes.json", json.dumps(samples.classes, indent=2))
    atomic_write_csv(run_dir / "folds.csv", folds)

    k_classes = samples.spec.num_classes
    tune = k_classes == 2 and cfg.segment.tune_postprocess
    size = cfg.augment.img_size
    pooled_ok = tune and len(df) * size * size <= POOLED_TUNE_BYTES
    pooled_probs: list[np.ndarray] = []
    pooled_targets: list[np.ndarray] = []

    fold = folds["fold"].to_numpy()
    per_fold: list[dict[str, float]] = []
    fold_post: list[dict] = []
    best_epochs: list[int] = []
    oof_tables: list[pd.DataFrame] = []
    members: list[str] = []
    for k in range(n_folds):
        train_df = df.iloc[np.flatnonzero(fold != k)]
        val_df = df.iloc[np.flatnonzero(fold == k)]
        fold_dir = run_dir / f"fold_{k}"
        fold_dir.mkdir()
        console.rule(f"fold {k + 1}/{n_folds}: {len(train_df)} train / {len(val_df)} val")
        fold_cfg = cfg.with_overrides({"train.seed": cfg.train.seed + k})
        atomic_write_text(fold_dir / "config.yaml", fold_cfg.to_yaml())
        split = train_seg_split(
            fold_cfg, samples, train_df, val_df, fold_dir, created=created, progress=progress
        )
        if pooled_ok:
            probs, targets = _val_probs(split.module.model, fold_dir, val_df, samples, cfg)
            pooled_probs.append(np.round(probs.astype(np.float32) * 255).astype(np.uint8))
            pooled_targets.append(targets)
        row = {"fold": k, "n_val": len(val_df), "best_epoch": split.best_epoch}
        row.update(split.val_final)
        per_fold.append(row)
        fold_post.append(split.postprocess)
        best_epochs.append(split.best_epoch)
        members.append(fold_dir.name)
        scores = pd.read_csv(fold_dir / "val_scores.csv")
        scores.insert(0, "fold", k)
        oof_tables.append(scores)
        console.print(
            f"fold {k + 1}/{n_folds}: best epoch {split.best_epoch}, "
            f"dice {split.val_final.get('dice', math.nan):.4f} (original size, post-processed)"
        )
        # Never keep K networks alive: drop this fold's before the next one is built.
        del split
        created = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    oof = pd.concat(oof_tables, ignore_index=True)
    atomic_write_csv(run_dir / "oof_scores.csv", oof)
    metric_keys = [c for c in per_fold[0] if c not in ("fold", "n_val")]
    table = pd.DataFrame(per_fold)
    mean = {c: float(np.nanmean(table[c].astype(float))) for c in metric_keys}
    std = {c: float(np.nanstd(table[c].astype(float))) for c in metric_keys}
    oof_scores = {"dice": float(oof["dice"].mean()), "iou": float(oof["iou"].mean())}
    summary_rows = [
        *({**r, "fold": str(r["fold"])} for r in per_fold),
        {"fold": "mean", "n_val": int(table["n_val"].sum()), **mean},
        {"fold": "std", **std},
        {"fold": "oof", "n_val": len(oof), **oof_scores},
    ]
    summary_table = pd.DataFrame(summary_rows)
    summary_table["n_val"] = summary_table["n_val"].astype("Int64")  # empty on the std row
    atomic_write_csv(run_dir / "cv_summary.csv", summary_table)

    postprocess = _ensemble_postprocess(cfg, fold_post, pooled_probs, pooled_targets, tune)
    del pooled_probs, pooled_targets
    write_seg_ensemble_meta(run_dir, members, postprocess)

    seconds = time.perf_counter() - t_start
    result = SegCVResult(
        run_dir=run_dir,
        task="segment",
        classes=samples.classes,
        folds=n_folds,
        fold_kind=kind,
        per_fold=per_fold,
        mean=mean,
        std=std,
        oof=oof_scores,
        postprocess=postprocess,
        best_epochs=best_epochs,
        seconds=seconds,
        n_samples=len(df),
        weights_source=weights_source,
        notes=samples.notes,
    )
    summary = {
        "kind": "cv",
        "task": "segment",
        "run_dir": str(run_dir),
        "classes": samples.classes,
        "arch": cfg.segment.arch,
        "encoder": cfg.segment.encoder,
        "folds": n_folds,
        "fold_kind": kind,
        "folds_file": cfg.cv.folds_file,
        "n_samples": len(df),
        "empty_mask_share": float(df["empty_mask"].mean()),
        "monitor": cfg.train.monitor,
        "best_epochs": best_epochs,
        "main_metric": "dice",
        "cv_mean": mean,
        "cv_std": std,
        "oof": oof_scores,
        "per_fold": per_fold,
        "postprocess": postprocess,
        "weights_source": weights_source,
        "skipped": [{"file": p, "reason": r} for p, r in samples.skipped],
        "seconds": seconds,
        "notes": samples.notes,
        "dice_definition": (
            "per fold: mean over the fold's validation images of 2|P&T|/(|P|+|T|) at each "
            "image's original size after the fold's own post-processing (empty/empty = 1); "
            "oof: the same mean over all images, each scored by the fold that did not train on "
            "it (oof_scores.csv)"
        ),
    }
    atomic_write_text(run_dir / "summary.json", json.dumps(_json_safe(summary), indent=2))
    return result


def _val_probs(model, fold_dir: Path, val_df: pd.DataFrame, samples, cfg: RunConfig):
    """The fold model's foreground probabilities on its validation images (training size)."""
    meta = json.loads((fold_dir / "model.json").read_text())
    tf = create_seg_transforms("none", meta["img_size"], meta["mean"], meta["std"], train=False)
    ds = SegDataset(val_df, samples.spec, tf, in_chans=cfg.data.in_chans, rle=samples.rle)
    loader = DataLoader(ds, batch_size=cfg.train.batch_size, shuffle=False, num_workers=0)
    return _collect_val_probs(model, loader, False)


def _ensemble_postprocess(cfg, fold_post, pooled_probs, pooled_targets, tune) -> dict:
    seg = cfg.segment
    if not tune:
        return {"threshold": seg.threshold, "min_area": seg.min_area, "method": "config"}
    if pooled_probs:
        tuned = tune_postprocess(np.concatenate(pooled_probs), np.concatenate(pooled_targets))
        return {
            "threshold": tuned.threshold,
            "min_area": tuned.min_area,
            "method": "tuned on the pooled out-of-fold probabilities (training size)",
            "oof_dice_at_tuned": tuned.dice,
            "oof_dice_at_0.5": tuned.dice_default,
        }
    return {
        "threshold": float(np.mean([p["threshold"] for p in fold_post])),
        "min_area": float(np.mean([p["min_area"] for p in fold_post])),
        "method": "mean of the folds' tuned values (pooled probabilities too large to keep)",
    }


def write_seg_ensemble_meta(run_dir: Path, members: list[str], postprocess: dict) -> None:
    """The CV run's model.json: fold 0's bundle meta (all folds share it), the members, and
    the ensemble's post-processing."""
    first = json.loads((run_dir / members[0] / "model.json").read_text())
    for key in ("best_epoch", "monitor_value"):
        first.pop(key, None)
    info = {
        **first,
        "format": ENSEMBLE_FORMAT,
        "version": 1,
        "kind": "cv",
        "task": "segment",
        "members": members,
        "threshold": postprocess["threshold"],
        "min_area": postprocess["min_area"],
        "postprocess": postprocess,
    }
    atomic_write_text(run_dir / "model.json", json.dumps(_json_safe(info), indent=2))


def load_seg_ensemble(run_dir: str | Path) -> SegPredictor:
    """A SegPredictor over all fold models of a segmentation CV run (mean of probabilities)."""
    run_dir = Path(run_dir)
    meta = read_run_meta(run_dir) or {}
    members = list(meta.get("members") or [])
    if not members:
        raise RunError(f"{run_dir / 'model.json'} lists no fold models")
    models = []
    for name in members:
        model, member_meta = load_bundle_model(run_dir / name)
        for key in _SHARED_KEYS:
            if member_meta.get(key) != meta.get(key):
                raise RunError(
                    f"fold model {run_dir / name} differs from the ensemble in {key!r}: "
                    f"{member_meta.get(key)!r} != {meta.get(key)!r}"
                )
        models.append(model)
    return SegPredictor(models, meta, run_dir)


def print_seg_cv_summary(result: SegCVResult, console: Console) -> None:
    keys = [k for k in ("dice", "iou", "pixel_acc", "auc", "empty_correct") if k in result.mean]
    table = Table(
        title=f"{result.run_dir}: {result.folds} folds ({result.fold_kind}), segment; "
        "original size, post-processed",
        title_justify="left",
    )
    table.add_column("fold")
    for k in keys:
        table.add_column(k, justify="right")
    for row in result.per_fold:
        table.add_row(str(row["fold"]), *(f"{row.get(k, math.nan):.4f}" for k in keys))
    table.add_row("mean", *(f"{result.mean[k]:.4f}" for k in keys))
    table.add_row("std", *(f"{result.std[k]:.4f}" for k in keys))
    console.print(table)
    console.print(f"[bold]{result.headline()}[/]")
    pp = result.postprocess
    console.print(
        f"ensemble post-processing: threshold {pp['threshold']:.2f}, min area "
        f"{pp['min_area']:g} ({pp['method']})"
    )
    console.print(
        f"run directory: {result.run_dir} (folds.csv, cv_summary.csv, oof_scores.csv); "
        f"visionfit predict {result.run_dir} ... averages the {result.folds} fold models"
    )


def _json_safe(obj):
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    return obj
