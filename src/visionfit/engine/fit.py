"""One hold-out run, for every task: samples -> split -> model -> `train_split` -> run directory."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from visionfit.config import RunConfig
from visionfit.data.augment import check_runs, create_augment
from visionfit.data.dicom import patient_groups
from visionfit.data.splits import holdout_split
from visionfit.engine.dist import is_worker, shared_run_dir, world_size
from visionfit.engine.hooks import run_finished
from visionfit.engine.intervals import interval_fields
from visionfit.engine.leakage import group_near_duplicates, run_leakage
from visionfit.engine.lr_range import apply_lr_find
from visionfit.engine.recipes import resolve_recipe
from visionfit.engine.testsplit import score_test_split
from visionfit.engine.tracking import log_artifacts, tracking_info
from visionfit.engine.trainer import create_model, default_workers, quiet_lightning, train_split
from visionfit.errors import DivergedError, VisionfitError
from visionfit.models.factory import CreatedModel
from visionfit.reports.curves import save_training_curves
from visionfit.runs import files as run_files
from visionfit.runs.lock import RunLock, acquire_run_lock
from visionfit.runs.rundir import create_run_dir
from visionfit.runs.summary import RunSummary, write_summary
from visionfit.tasks.base import Task, TaskData
from visionfit.tasks.registry import task_for_config


@dataclass
class RunResult:
    run_dir: Path
    task: str
    classes: list[str]
    monitor: str
    best_epoch: int | None
    best_metrics: dict[str, float]
    seconds: float
    n_train: int
    n_val: int
    weights_source: str
    skipped_files: int = 0
    notes: list[str] = field(default_factory=list)
    tracking: dict = field(default_factory=dict)  # where MLflow/TensorBoard logged the run
    val_final: dict[str, float] = field(default_factory=dict)  # the task's final val scores
    postprocess: dict = field(default_factory=dict)  # fitted on val (threshold, min area)
    val_score: dict = field(default_factory=dict)  # the headline: metric, value
    test: dict = field(default_factory=dict)  # the test split's scores (test_scores.json)
    n_test: int = 0
    # the bootstrap intervals (summary.json's `interval`, `test_interval`; engine/intervals.py)
    intervals: dict = field(default_factory=dict)
    # leaked_val_images and leakage_corrected (engine/leakage.py), flat in summary.json
    leakage: dict = field(default_factory=dict)


def prepare(cfg: RunConfig, *, progress: bool) -> tuple[Task, RunConfig, TaskData]:
    """The task, the resolved config and the scanned data of a run (nothing written yet)."""
    quiet_lightning()
    task = task_for_config(cfg)
    data = task.load_data(cfg, progress=progress)
    if data.patient and "group" not in data.df.columns:  # --group-col's groups come first
        data.df, note = patient_groups(data.df, data.patient)
        data.notes.append(note)
    if cfg.data.group_near_duplicates:
        group_near_duplicates(data, cfg.data.near_duplicate_distance)
    return task, resolve_config(task, cfg, data), data


def resolve_config(task: Task, cfg: RunConfig, data: TaskData) -> RunConfig:
    """Fill every "auto" (the task's own, the monitor, the workers) so that config.yaml states
    exactly what ran."""
    n_train = int(len(data.df) * (1 - cfg.data.val_fraction - cfg.data.test_fraction))
    cfg, recipe_notes = resolve_recipe(cfg, task.recipe_family(cfg), n_train)
    data.notes.extend(n for n in recipe_notes if n not in data.notes)
    cfg = task.resolve_config(cfg, data)
    if task.config_section is not None:  # config.yaml states the task's own section
        cfg = cfg.with_section(task.config_section[0])
    monitor, mode = cfg.train.monitor, cfg.train.monitor_mode
    if monitor == "auto":
        monitor, auto_mode = task.default_monitor(data)
        mode = auto_mode if mode == "auto" else mode
    elif mode == "auto":
        mode = "min" if monitor.endswith("loss") else "max"
    # a bad --augment file, or one that cannot run at this size, fails here, before a run
    # directory exists
    augment = create_augment(cfg.augment)
    check_runs(augment, cfg.augment.img_size, cfg.data.in_chans, cfg.augment.preset)
    workers = cfg.data.workers if cfg.data.workers is not None else default_workers()
    return cfg.with_overrides(
        {"train.monitor": monitor, "train.monitor_mode": mode, "data.workers": workers}
    )


def fit(
    cfg: RunConfig,
    *,
    progress: bool = True,
    callbacks: list | None = None,
    score_test: bool = True,
) -> RunResult:
    """Train one model as described by `cfg` and write its run directory.

    `callbacks` are extra Lightning callbacks for the Trainer (e.g. Optuna's pruning callback).
    A test split (`data.test_fraction`, a test/ folder, a CSV split column) is kept out of
    training and scored once at the end, unless `score_test` is False (tuning trials).

    >>> from visionfit.config import RunConfig
    >>> cfg = RunConfig.from_dict({"data": {"path": "data/"}, "train": {"epochs": 3}})
    >>> result = fit(cfg)
    >>> result.run_dir, result.best_metrics
    """
    if cfg.cv.enabled:
        raise VisionfitError(
            "this config asks for k-fold cross-validation (cv.folds / cv.folds_file): "
            "call visionfit.cross_validate(cfg), or set cv.folds to 0 for one hold-out run"
        )
    t_start = time.perf_counter()
    task, cfg, data = prepare(cfg, progress=progress)
    df = split_run(task, cfg, data)
    cfg, lr_notes = apply_lr_find(task, cfg, data, df)
    # Build the model before the run directory exists, so that a bad model name or
    # unavailable weights fail without leaving an empty run behind.
    created = create_model(task, cfg, data)
    run_dir = shared_run_dir(
        lambda: create_run_dir(cfg.runs_dir, cfg.name or task.run_name(cfg)), world_size(cfg)
    )
    lock = None
    if not is_worker():  # the other processes of a distributed run only train
        lock = acquire_run_lock(run_dir)
        write_run_inputs(run_dir, cfg, task, data, df)
    return train_in_run_dir(
        task,
        cfg,
        data,
        df,
        run_dir,
        created,
        t_start=t_start,
        notes=run_notes(data, df) + lr_notes,
        progress=progress,
        lock=lock,
        callbacks=callbacks,
        score_test=score_test,
    )


def _write_summary(result: RunResult, task: Task, data: TaskData, df, split, resume_from, cfg):
    metric, score = result.val_score["metric"], result.val_score["value"]
    if split.best_metrics.get(f"val_{metric}") == score:  # an epoch metric: its own name
        metric = f"val_{metric}"
    shared = {f: getattr(result, f) for f in _SHARED if hasattr(result, f)}
    extra = {
        k: v
        for k, v in result.__dict__.items()
        if k not in _SHARED and k not in ("run_dir", "intervals")
    }
    extra.update(extra.pop("leakage", {}))
    extra.update(result.intervals)
    extra.update(
        layout=data.layout,
        epochs_run=split.epochs_run,
        threshold=split.post.get("threshold"),
        cache=_cache_line(data),
        **task.summary_extra(data, df),
        **split.post.get("calibration", {}),  # ece, temperature, ... (classification)
    )
    if resume_from is not None:
        extra["resumed_from"] = str(resume_from)
    summary = RunSummary(
        kind="single",
        **shared,
        run_dir=str(result.run_dir),
        ignored_files=data.ignored_files,
        model_name=task.run_name(cfg),
        main_metric=metric,
        score=score,
        higher_is_better=True,  # the task's headline (Task.headline) is a score, higher better
        extra=extra,
    )
    write_summary(result.run_dir, summary)


# RunResult's fields that are RunSummary's shared ones; the others are the single run's own part
_SHARED = (
    "task",
    "classes",
    "monitor",
    "seconds",
    "n_train",
    "n_val",
    "n_test",
    "skipped_files",
    "notes",
    "test",
)


def split_run(task: Task, cfg: RunConfig, data: TaskData) -> pd.DataFrame:
    """The samples table with train / val / test assigned (what splits.csv records)."""
    dc = cfg.data
    given = bool((data.df["split"] == "val").any())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        df = holdout_split(
            data.df, dc.val_fraction, cfg.train.seed, task.stratify(data), dc.test_fraction
        )
    # the split's own warnings (a stratum too small to stratify) are notes of the run
    notes = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    notes += task.check_split(data, df, given)
    data.notes.extend(n for n in notes if n not in data.notes)
    return df


def write_run_inputs(run_dir: Path, cfg: RunConfig, task: Task, data: TaskData, df) -> None:
    """config.yaml, classes.json, skipped.csv and splits.csv: what `--resume` trains on."""
    run_files.write_run_inputs(
        run_dir, cfg, data.classes, data.skipped, splits=df[task.split_columns(df)]
    )


def run_notes(data: TaskData, df: pd.DataFrame) -> list[str]:
    from visionfit.data.check import leakage_groups

    notes = list(data.notes)
    skipped = data.skipped
    excluded = int((skipped["reason"] == "excluded").sum()) if "reason" in skipped else 0
    if len(data.skipped) > excluded:  # --exclude's images have their own note
        n = len(data.skipped) - excluded
        notes.append(f"{n} unusable files left out (listed in skipped.csv)")
    leaks = leakage_groups(df, data.sha1) if data.sha1 else []
    if leaks:
        notes.append(
            f"identical files in both train and val (leakage): {len(leaks)} groups; "
            "see `visionfit check`"
        )
    return notes


def train_in_run_dir(
    task: Task,
    cfg: RunConfig,
    data: TaskData,
    df: pd.DataFrame,
    run_dir: Path,
    created: CreatedModel | None,
    *,
    t_start: float,
    notes: list[str],
    progress: bool = True,
    resume_from: str | Path | None = None,
    finished: bool = False,
    lock: RunLock | None = None,
    callbacks: list | None = None,
    score_test: bool = True,
) -> RunResult:
    """Train on the split in `df` inside an existing run directory and write summary.json.

    `resume_from` continues from a checkpoint of this run; `finished` (the checkpoint was written
    at the end of training) only writes the bundle and summary. `lock` is released at the end,
    also when training fails, so that the run can be resumed from this process. Rows with
    `split == "test"` are never trained or validated on; with `score_test` the final model is
    scored on them once, at the end (test_scores.json)."""
    train_df, val_df = df[df["split"] == "train"], df[df["split"] == "val"]
    test_df = df[df["split"] == "test"]
    try:
        split = train_split(
            task,
            cfg,
            data,
            train_df,
            val_df,
            run_dir,
            progress=progress,
            created=created,
            resume_from=resume_from,
            finished=finished,
            callbacks=callbacks,
        )
    except DivergedError as e:
        raise DivergedError(f"{e} ({run_dir} is left unfinished, with no model)") from None
    finally:
        if lock is not None:
            lock.release()
    if split.worker:  # another process of a distributed run: the main one writes the rest
        raise SystemExit(0)
    result = RunResult(
        run_dir=run_dir,
        task=data.label_mode,
        classes=data.classes,
        monitor=cfg.train.monitor,
        best_epoch=split.best_epoch,
        best_metrics=split.best_metrics,
        seconds=time.perf_counter() - t_start,
        n_train=len(train_df),
        n_val=len(val_df),
        weights_source=split.weights_source,
        skipped_files=len(data.skipped),
        notes=notes,
        tracking=tracking_info(split.logger),
        val_final=split.val_final,
        postprocess=split.post,
        n_test=len(test_df),
    )
    metric, value = task.headline(data, split.best_metrics, split.val_final)
    result.val_score = {"metric": metric, "value": value, "on": "validation split"}
    result.leakage = run_leakage(task, cfg, data, df, split.val_probs, split.post, run_dir)
    if score_test:
        result.test = score_test_split(task, cfg, data, run_dir, test_df, progress=progress)
    result.intervals = interval_fields(task, cfg, data, val_df, run_dir, "val", test_df)
    _write_summary(result, task, data, df, split, resume_from, cfg)
    save_training_curves(run_dir / run_files.METRICS, run_dir / run_files.CURVES)
    run_finished(run_dir, result.notes)
    log_artifacts(split.logger, run_dir)
    return result


def _cache_line(data: TaskData) -> str:
    cache = data.extra.get("decoded_cache", (None, None))[1]
    return cache.describe() if cache is not None else "none (decoded every epoch)"
