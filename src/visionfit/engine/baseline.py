"""The classical baseline: scikit-learn on resized pixels or HOG features, on the same folds.

Images are decoded with the shared decoder, resized to ``size`` x ``size`` and turned into
features (flattened pixels in 0..1, or scikit-image's HOG), then each fold fits
``StandardScaler -> [PCA] -> classifier`` on the other folds and predicts its own images. Folds
run in parallel (joblib). The run directory has what a network's CV run has: config.yaml,
classes.json, folds.csv, oof.csv, cv_summary.csv and summary.json (``"kind": "baseline"``), and
its fitted pipelines as skops files with a model.json (see baseline_store), so that
``visionfit.load(run_dir)`` predicts with the fold ensemble (baseline_predict).

>>> from visionfit.config import BaselineConfig
>>> result = run_baseline(BaselineConfig.from_dict({"data": {"path": "data/"}, "model": "svm"}))
>>> result.scores.headline()
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from rich.console import Console
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from visionfit.config import BaselineConfig, RunConfig
from visionfit.data.io import ImageDecodeError
from visionfit.data.pixel_features import image_features
from visionfit.data.splits import split_test, without_test
from visionfit.engine.foldplan import assign_folds
from visionfit.engine.hooks import run_finished
from visionfit.engine.intervals import interval_fields
from visionfit.errors import DataError
from visionfit.fileio import json_safe
from visionfit.inference.baseline_store import (
    MODEL_FILE,
    REFIT_MEMBER,
    save_pipeline,
    write_baseline_meta,
)
from visionfit.progress import progress as show_progress
from visionfit.runs import files as run_files
from visionfit.runs.rundir import create_run_dir
from visionfit.runs.summary import RunSummary, write_summary
from visionfit.tasks.registry import task_for_config


@dataclass
class BaselineResult:
    run_dir: Path
    task: str
    classes: list[str]
    folds: int
    fold_kind: str
    scores: Any  # the task's CV scores (headline(), to_json())
    n_samples: int
    n_features: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    intervals: dict = field(default_factory=dict)  # summary.json's interval


def create_estimator(cfg: BaselineConfig, estimator, n_features: int, n_samples: int):
    """StandardScaler -> optional PCA -> the task's estimator, as one scikit-learn pipeline."""
    steps = [StandardScaler()]
    if cfg.pca:
        steps.append(PCA(n_components=min(cfg.pca, n_features, n_samples), random_state=cfg.seed))
    return make_pipeline(*steps, estimator)


def extract_features(paths: list[str], cfg: BaselineConfig, progress: bool = True) -> np.ndarray:
    """The (N, D) feature matrix; unreadable images are reported, not skipped silently."""
    chunks = [paths[i : i + 64] for i in range(0, len(paths), 64)]

    def work(chunk):
        rows, bad = [], []
        for p in chunk:
            try:
                rows.append(
                    image_features(
                        p, cfg.size, cfg.features, cfg.data.in_chans, cfg.data.max_pixels
                    )
                )
            except ImageDecodeError as e:
                rows.append(None)
                bad.append(f"{p} ({e.reason})")
        return rows, bad

    out, bad = [], []
    # Threads: decoding, resizing and HOG run in C; worker processes would re-import torch.
    parallel = Parallel(n_jobs=cfg.n_jobs, prefer="threads", return_as="generator")
    with show_progress(f"{cfg.features} features", len(paths), "images", enabled=progress) as bar:
        for rows, b in parallel(delayed(work)(c) for c in chunks):
            out.extend(rows)
            bad.extend(b)
            bar.advance(len(rows))
    if bad:
        raise DataError(
            f"{len(bad)} images cannot be read, e.g. {bad[0]}: fix or remove them "
            "(visionfit check lists them)"
        )
    return np.stack(out)


def _fit_fold(cfg: BaselineConfig, hooks, data, x, y, train_idx, val_idx, n_outputs, path):
    """Fit on the other folds, save the pipeline to `path`, return (val_idx, its predictions).

    The estimator is built here, so that once saved no fitted forest outlives its job."""
    clf = hooks.estimator(cfg, data, y[train_idx], len(train_idx))
    estimator = create_estimator(cfg, clf, x.shape[1], len(train_idx))
    estimator.fit(x[train_idx], y[train_idx])
    save_pipeline(path, estimator, cfg.model)
    if not len(val_idx):  # the refit pipeline holds nothing out
        return val_idx, np.zeros((0, n_outputs))
    meta = {"task": data.label_mode, "classes": data.classes}
    return val_idx, hooks.proba(estimator, x[val_idx], meta)


def _fit_folds(cfg: BaselineConfig, hooks, data, x, y_fit, fold, n_outputs, run_dir, progress):
    """Every fold's out-of-fold predictions; fold_<k>/model.skops; refit/ when asked."""
    n_folds = int(fold.max()) + 1
    fit = delayed(_fit_fold)
    jobs = [
        fit(
            cfg,
            hooks,
            data,
            x,
            y_fit,
            np.flatnonzero(fold != k),
            np.flatnonzero(fold == k),
            n_outputs,
            run_dir / f"fold_{k}" / MODEL_FILE,
        )
        for k in range(n_folds)
    ]
    if cfg.cv.refit:  # one pipeline on every image
        everything = np.arange(len(x))
        path = run_dir / REFIT_MEMBER / MODEL_FILE
        jobs.append(fit(cfg, hooks, data, x, y_fit, everything, everything[:0], n_outputs, path))
    oof_probs = np.full((len(x), n_outputs), np.nan)
    n_jobs = min(cfg.n_jobs, len(jobs)) if cfg.n_jobs > 0 else cfg.n_jobs
    # Threads: scikit-learn's fitting code releases the GIL, and x is shared, not copied.
    parallel = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator_unordered")
    extra = " and on all images" if cfg.cv.refit else ""
    label = f"fitting {cfg.model} on {n_folds} folds{extra}"
    with show_progress(label, len(jobs), "fits", enabled=progress) as bar:
        for val_idx, probs in parallel(jobs):
            oof_probs[val_idx] = probs
            bar.advance()
    return oof_probs


def _write_model_meta(run_dir: Path, cfg: BaselineConfig, classes, n_features, n_folds, extra):
    """model.json: what visionfit.load needs to predict (and refit/model.json with cv.refit)."""
    info = {
        "task": cfg.data.task,
        "classes": classes,
        "model": cfg.model,
        "features": cfg.features,
        "size": cfg.size,
        "pca": cfg.pca,
        "in_chans": cfg.data.in_chans,
        "max_pixels": cfg.data.max_pixels,
        "n_features": n_features,
        **extra,  # the task's own: the threshold chosen on the OOF predictions
        "refit": REFIT_MEMBER if cfg.cv.refit else None,
    }
    write_baseline_meta(run_dir, [f"fold_{k}" for k in range(n_folds)], json_safe(info))
    if cfg.cv.refit:
        write_baseline_meta(run_dir / REFIT_MEMBER, ["."], json_safe({**info, "refit": None}))


def run_baseline(cfg: BaselineConfig, *, progress: bool = True) -> BaselineResult:
    """Cross-validate a scikit-learn classifier on image features and write its run directory."""
    t_start = time.perf_counter()
    console = Console(stderr=True, quiet=not progress)
    # assign_folds reads the fold options and seed from a RunConfig
    run_cfg = RunConfig(data=cfg.data, cv=cfg.cv).with_overrides({"train.seed": cfg.seed})
    # The same reading and scan as the networks: unusable files are listed in skipped.csv.
    task = task_for_config(run_cfg)
    hooks = task.baseline()
    if hooks is None:
        raise DataError(f"visionfit baseline has no scikit-learn model for {task.name} data")
    samples = task.load_data(run_cfg, progress=progress)
    # The same test split as the networks' (same rows, order and seed): never fitted or scored.
    samples.df = without_test(
        split_test(samples.df, cfg.data.test_fraction, cfg.seed, task.stratify(samples))
    ).reset_index(drop=True)
    folds, kind = assign_folds(samples, run_cfg)
    n_folds = int(folds["fold"].max()) + 1
    cfg = hooks.resolve(cfg.model_copy(deep=True), samples)  # config.yaml states what ran
    cfg.data.task = samples.label_mode
    cfg.data.label_mode = samples.label_mode
    cfg.cv.folds = n_folds
    cfg.cv.kind = kind if kind != "file" else cfg.cv.kind
    df = samples.df.reset_index(drop=True)

    # Features first: an unreadable image stops the run before its directory exists.
    x = extract_features(df["image"].tolist(), cfg, progress)
    run_dir = create_run_dir(cfg.runs_dir, cfg.name or f"baseline-{cfg.model}")
    run_files.write_run_inputs(run_dir, cfg, samples.classes, samples.skipped, folds=folds)
    fit = hooks.targets(samples, df)
    fold = folds["fold"].to_numpy()
    console.print(
        f"{cfg.model} on {x.shape[1]} {cfg.features} features"
        + (f" -> PCA {cfg.pca}" if cfg.pca else "")
        + f", {len(df)} images, {n_folds} folds"
    )
    oof_probs = _fit_folds(
        cfg, hooks, samples, x, fit.y_fit, fold, fit.n_outputs, run_dir, progress
    )
    scores = hooks.score(run_dir, cfg, samples, df, fit, oof_probs, fold)
    _write_model_meta(
        run_dir, cfg, samples.classes, int(x.shape[1]), n_folds, hooks.meta(cfg, scores)
    )
    seconds = time.perf_counter() - t_start
    # the pooled out-of-fold score's bootstrap interval (run_cfg: train.bootstrap, the seed)
    intervals = interval_fields(task, run_cfg, samples, df, run_dir, "oof", None)
    _write_summary(run_dir, cfg, samples, kind, int(x.shape[1]), scores, seconds, intervals)
    run_finished(run_dir, samples.notes)
    return BaselineResult(
        run_dir=run_dir,
        task=samples.label_mode,
        classes=samples.classes,
        folds=n_folds,
        fold_kind=kind,
        scores=scores,
        n_samples=len(df),
        n_features=int(x.shape[1]),
        seconds=seconds,
        notes=samples.notes,
        intervals=intervals,
    )


def _write_summary(
    run_dir: Path, cfg: BaselineConfig, samples, kind, n_features, scores, seconds, intervals
):
    summary = RunSummary.of(
        "baseline",
        run_dir=str(run_dir),
        task=cfg.data.task,
        classes=samples.classes,
        model_name=str(cfg.model),
        model=cfg.model,
        features=cfg.features,
        size=cfg.size,
        pca=cfg.pca,
        n_features=n_features,
        folds=cfg.cv.folds,
        fold_kind=kind,
        folds_file=cfg.cv.folds_file,
        refit=cfg.cv.refit,
        n_samples=len(samples.df),
        **scores.to_json(),
        seconds=seconds,
        skipped_files=len(samples.skipped),
        ignored_files=samples.ignored_files,
        notes=samples.notes,
        **intervals,
    )
    write_summary(run_dir, summary)
