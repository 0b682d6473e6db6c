"""K-fold cross-validation, for every task: the one fold loop over `train_split`.

The fold assignment is written to ``folds.csv`` before any training. Fold k trains a fresh model
on the other folds and validates on fold k in ``fold_<k>/`` (checkpoints, metrics.csv, bundle);
the task collects its out-of-fold record (probabilities for classification, per-image scores and
pooled probabilities for segmentation) and writes ``oof*.csv`` and ``cv_summary.csv`` at the end.
Only one fold's model is alive at a time. The run's ``model.json`` makes the folds an ensemble
for ``visionfit predict``; ``--refit`` then trains one model on all images for the mean best epoch
count (``refit/``), with the ensemble's post-processing. Fold k uses seed ``train.seed + k`` so
that the ensemble's members differ. `tune --folds` runs the same loop (`run_folds`).
"""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.console import Console

from visionfit.config import RunConfig
from visionfit.data.splits import split_test
from visionfit.engine.dist import is_worker, shared_run_dir, world_size
from visionfit.engine.fit import prepare
from visionfit.engine.foldplan import assign_folds
from visionfit.engine.foldstate import FoldStart, fold_start, record_fold
from visionfit.engine.hooks import run_finished
from visionfit.engine.intervals import interval_fields
from visionfit.engine.leakage import cv_leakage
from visionfit.engine.resumable import TestKillSwitch
from visionfit.engine.testsplit import score_test_split
from visionfit.engine.trainer import SplitResult, create_model, train_split
from visionfit.runs import files as run_files
from visionfit.runs.kind import REFIT_DIR
from visionfit.runs.lock import RunLock, acquire_run_lock
from visionfit.runs.meta import write_ensemble_meta
from visionfit.runs.rundir import create_run_dir
from visionfit.runs.summary import RunSummary, write_summary
from visionfit.tasks.base import Task, TaskData


@dataclass
class CVResult:
    run_dir: Path
    task: str
    classes: list[str]
    folds: int
    fold_kind: str
    scores: object  # the task's CV scores: per_fold, mean, std, oof, headline()
    best_epochs: list[int]
    seconds: float
    n_samples: int
    weights_source: str
    refit_dir: Path | None = None
    notes: list[str] = field(default_factory=list)
    test: dict = field(default_factory=dict)  # the fold ensemble's test-split scores
    refit_test: dict = field(default_factory=dict)  # the refit model's ({} without a refit)
    intervals: dict = field(default_factory=dict)  # summary.json's interval, test_interval
    leakage: dict = field(default_factory=dict)  # engine/leakage.py's summary keys

    # segmentation summaries read these directly
    @property
    def per_fold(self):
        return self.scores.per_fold

    @property
    def mean(self):
        return self.scores.mean

    @property
    def std(self):
        return self.scores.std

    @property
    def oof(self):
        return self.scores.oof

    @property
    def postprocess(self):
        return getattr(self.scores, "postprocess", {})

    def headline(self) -> str:
        return self.scores.headline()


def cross_validate(cfg: RunConfig, *, progress: bool = True) -> CVResult:
    """Train one model per fold as described by `cfg` (cfg.cv: folds, kind, folds_file, refit).

    >>> cfg = RunConfig.from_dict({"data": {"path": "data/"}, "cv": {"folds": 5}})
    >>> result = cross_validate(cfg)
    >>> result.scores.headline()
    """
    t_start = time.perf_counter()
    console = Console(stderr=True, quiet=not progress)
    task, cfg, data = prepare(cfg, progress=progress)
    if data.has_split:
        console.print(
            "[yellow]the data comes split into train/ and val/: cross-validation pools both "
            "and makes its own folds[/]"
        )
    test_df = set_aside_test(task, cfg, data)
    folds, kind = assign_folds(data, cfg)
    n_folds = int(folds["fold"].max()) + 1
    cfg = cfg.with_overrides(
        {"cv.folds": n_folds, "cv.kind": kind if kind != "file" else cfg.cv.kind}
    )
    # Build fold 0's model before the run directory exists: a bad model name or unavailable
    # weights fail without leaving an empty run behind.
    created = create_model(task, cfg, data)

    run_dir = shared_run_dir(
        lambda: create_run_dir(cfg.runs_dir, cfg.name or f"{task.run_name(cfg)}-cv"),
        world_size(cfg),
    )
    lock = None
    if not is_worker():  # the other processes of a distributed run only train
        lock = acquire_run_lock(run_dir)
        run_files.write_run_inputs(
            run_dir,
            cfg,
            data.classes,
            data.skipped,
            folds=folds,
            test=test_df[task.split_columns(test_df)] if len(test_df) else None,
        )
    run = CVRun(task, cfg, data, folds["fold"].to_numpy(), kind, test_df, run_dir)
    return continue_cv(run, t_start=t_start, progress=progress, created=created, lock=lock)


@dataclass
class CVRun:
    """A K-fold run's inputs, as written to its directory before the first fold."""

    task: Task
    cfg: RunConfig
    data: TaskData  # data.df: the rows folds are made of (the test rows set aside)
    fold: np.ndarray  # each row's fold
    fold_kind: str
    test_df: pd.DataFrame
    run_dir: Path


def continue_cv(
    run: CVRun,
    *,
    t_start: float,
    progress: bool = True,
    created=None,
    lock: RunLock | None = None,
    resume: bool = False,
    say: Callable[[str], None] | None = None,
) -> CVResult:
    """Train the folds of `run` (with `resume`: keep the finished ones, continue a killed one
    from its checkpoint), then the out-of-fold scores, the ensemble, the refit, the test split's
    scores, summary.json and the report. `lock` is released at the end."""
    task, cfg, data, run_dir = run.task, run.cfg, run.data, run.run_dir
    try:
        acc = task.cv_accumulator(cfg, data, data.df)
        sources: list[str] = []  # fold 0's weights source: the run's

        def on_fold(k: int, split: SplitResult, val_idx: np.ndarray, fold_dir: Path) -> str:
            sources.append(split.weights_source)
            return acc.add(k, split, val_idx, fold_dir)

        best_epochs = run_folds(
            task, cfg, data, run.fold, run_dir, progress=progress, created=created,
            on_fold=on_fold, resume=resume, say=say,
        )  # fmt: skip
        if is_worker():  # another process of a distributed run: it has trained every fold
            raise SystemExit(0)
        scores, ensemble, summary_extra = acc.finish(run_dir, run.fold)
        probs = getattr(acc, "probs", None)  # out-of-fold probabilities, where a task keeps them
        leakage = cv_leakage(task, cfg, data, run.fold, probs, ensemble, run_dir)
        summary_extra.update(leakage)
        write_ensemble_meta(run_dir, [f"fold_{k}" for k in range(len(best_epochs))], ensemble)
        refit_dir = None
        if cfg.cv.refit:
            refit_dir = _refit(
                task, cfg, data, run_dir, best_epochs, ensemble, progress, resume=resume, say=say
            )
        # the fold ensemble (what `visionfit predict RUN` uses), scored once on the test split
        test = score_test_split(task, cfg, data, run_dir, run.test_df, progress=progress)
        # and the refit model, the other model of the run a user may ship (refit/test_*)
        refit_test = (
            score_test_split(task, cfg, data, refit_dir, run.test_df, progress=progress)
            if refit_dir is not None
            else {}
        )
        result = CVResult(
            run_dir=run_dir,
            task=data.label_mode,
            classes=data.classes,
            folds=len(best_epochs),
            fold_kind=run.fold_kind,
            scores=scores,
            best_epochs=best_epochs,
            seconds=time.perf_counter() - t_start,
            n_samples=len(data.df),
            weights_source=sources[0] if sources else "",
            refit_dir=refit_dir,
            notes=data.notes,
            test=test,
            refit_test=refit_test,
            leakage=leakage,
        )
        result.intervals = interval_fields(task, cfg, data, data.df, run_dir, "oof", run.test_df)
        extra = {"model_name": task.run_name(cfg), **summary_extra, **result.intervals}
        _write_summary(result, cfg, extra, data, run.test_df)
    finally:
        if lock is not None:
            lock.release()
    run_finished(run_dir, result.notes)
    return result


def set_aside_test(task: Task, cfg: RunConfig, data: TaskData) -> pd.DataFrame:
    """Take the test split (drawn, or given by the data) out of `data.df`, which folds are then
    made from; returns the test rows."""
    df = split_test(data.df, cfg.data.test_fraction, cfg.train.seed, task.stratify(data))
    is_test = (df["split"] == "test").to_numpy()
    data.df = df[~is_test].reset_index(drop=True)
    return df[is_test].reset_index(drop=True)


def _write_summary(
    result: CVResult, cfg: RunConfig, extra: dict, data: TaskData, test_df: pd.DataFrame
) -> None:
    run_dir = result.run_dir
    summary = RunSummary.of(
        "cv",
        run_dir=str(run_dir),
        task=result.task,
        classes=result.classes,
        folds=result.folds,
        fold_kind=result.fold_kind,
        folds_file=cfg.cv.folds_file,
        n_samples=result.n_samples,
        n_test=len(test_df),
        monitor=cfg.train.monitor,
        best_epochs=result.best_epochs,
        weights_source=result.weights_source,
        **extra,
        refit_dir=str(result.refit_dir) if result.refit_dir else None,
        seconds=result.seconds,
        test=result.test or {},
        refit_test=result.refit_test or {},
        skipped_files=len(data.skipped),
        ignored_files=data.ignored_files,
        notes=data.notes,
    )
    write_summary(run_dir, summary)


def run_folds(
    task: Task,
    cfg: RunConfig,
    data: TaskData,
    fold: np.ndarray,
    run_dir: Path,
    *,
    progress: bool = True,
    created=None,
    on_fold: Callable[[int, SplitResult, np.ndarray, Path], str] | None = None,
    callbacks: list | None = None,
    resume: bool = False,
    say: Callable[[str], None] | None = None,
) -> list[int]:
    """Train fold k = 0..K-1 in `run_dir/fold_<k>`; `on_fold(k, split, val_idx, fold_dir)`
    records the fold and returns the line to print. Returns the folds' best epochs.

    With `resume`, a finished fold (its record) is kept and read back, a started one continues
    from its own checkpoint (engine/foldstate.py); `say` gets a line for each decision."""
    console = Console(stderr=True, quiet=not progress)
    df, n_folds = data.df, int(fold.max()) + 1
    best_epochs: list[int] = []
    for k in range(n_folds):
        val_idx = np.flatnonzero(fold == k)
        train_df, val_df = df.iloc[np.flatnonzero(fold != k)], df.iloc[val_idx]
        fold_dir = run_dir / f"fold_{k}"
        name = f"fold {k + 1}/{n_folds}"
        start = fold_start(fold_dir, name, say or (lambda _line: None)) if resume else FoldStart()
        split = start.done
        if split is None:
            fold_dir.mkdir(exist_ok=is_worker() or resume)
            console.rule(f"{name}: {len(train_df)} train / {len(val_df)} val")
            fold_cfg = cfg.with_overrides({"train.seed": cfg.train.seed + k})
            if not is_worker() and not run_files.has_config(fold_dir):
                run_files.write_config(fold_dir, fold_cfg)
            split = train_split(
                task,
                fold_cfg,
                data,
                train_df,
                val_df,
                fold_dir,
                progress=progress,
                created=created,  # fold 0 only; then None: each fold builds its own
                resume_from=start.resume_from,
                finished=start.finished,
                callbacks=[*(callbacks or []), *_kill_switch(TestKillSwitch.for_fold(k))],
            )
            if split.worker:  # another process of a distributed run: on to the next fold
                best_epochs.append(split.best_epoch)
                del split
                created = None
                continue
            record_fold(fold_dir, split)  # last: this fold is finished
        line = on_fold(k, split, val_idx, fold_dir) if on_fold else ""
        best_epochs.append(split.best_epoch)
        console.print(f"{name}: best epoch {split.best_epoch}, {line}")
        # Never keep K models alive: drop this fold's network before the next one is built.
        del split
        created = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return best_epochs


def _kill_switch(switch) -> list:
    return [switch] if switch is not None else []


def _refit(
    task, cfg, data, run_dir, best_epochs, post, progress, *, resume=False, say=None
) -> Path:
    """One model on every image for the mean best epoch count (epochs, not indices: +1)."""
    epochs = max(1, int(round(float(np.mean(best_epochs)) + 1)))
    # one process: the other processes of a distributed CV have left after the folds
    refit_cfg = cfg.with_overrides(
        {
            "train.epochs": epochs,
            "train.patience": None,
            "train.devices": 1,
            "train.num_nodes": 1,
            "train.strategy": "auto",
        }
    )
    out = run_dir / REFIT_DIR
    start = fold_start(out, "the refit", say or (lambda _line: None)) if resume else FoldStart()
    if start.done is not None:
        return out
    out.mkdir(exist_ok=resume)
    if not run_files.has_config(out):
        run_files.write_config(out, refit_cfg)
    n = len(data.df)
    Console(stderr=True, quiet=not progress).rule(f"refit on all {n} images, {epochs} epochs")
    with warnings.catch_warnings():  # "validation_step but no val_dataloader": on purpose
        warnings.filterwarnings("ignore", ".*val_dataloader.*")
        # plateau has no metric to watch: the refit keeps its rate (tasks/optim.py)
        warnings.filterwarnings("ignore", ".*conditioned on metric.*")
        split = train_split(
            task,
            refit_cfg,
            data,
            data.df,
            data.df.iloc[:0],
            out,
            progress=progress,
            post=post,
            resume_from=start.resume_from,
            finished=start.finished,
            callbacks=_kill_switch(TestKillSwitch.for_refit()),
        )
    record_fold(out, split)  # last: the refit is finished
    del split
    gc.collect()
    return out
