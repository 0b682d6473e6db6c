"""One training run: samples -> split -> model -> Lightning Trainer -> run directory + bundle."""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import (
    EarlyStopping,
    LearningRateMonitor,
    ModelCheckpoint,
    RichProgressBar,
)
from torch.utils.data import DataLoader

from visionfit.config import RunConfig
from visionfit.data.check import drop_unusable, leakage_groups
from visionfit.data.datasets import ImageDataset
from visionfit.data.labels import stack_targets
from visionfit.data.sources import load_samples, resolve_task
from visionfit.data.splits import holdout_split
from visionfit.data.transforms import create_transforms
from visionfit.engine.bundle import save_bundle
from visionfit.engine.callbacks import AtomicCheckpointIO, EpochMetricsCSV
from visionfit.engine.resumable import (
    EpochSampler,
    ResumableDataLoader,
    ResumeCheckpoint,
    StepSeeder,
    TestKillSwitch,
)
from visionfit.engine.rundir import atomic_write_csv, atomic_write_text, create_run_dir
from visionfit.engine.runlock import RunLock, acquire_run_lock
from visionfit.engine.scoring import check_threshold_option, choose_threshold, score
from visionfit.engine.tracking import create_logger, log_artifacts, tracking_info
from visionfit.errors import DataError, VisionfitError
from visionfit.models.factory import CreatedModel, check_model_name, create_classifier
from visionfit.models.freezing import create_finetune_policy
from visionfit.reports.curves import save_training_curves
from visionfit.tasks.classification import ClassificationTask, default_monitor, num_outputs_for
from visionfit.tasks.imbalance import balanced_sampler, loss_weight


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


def default_workers() -> int:
    """Background decoding pays off from 3 cores up; on 2 cores the main process does it."""
    n = os.cpu_count() or 1
    return 0 if n <= 2 else min(8, n - 1)


def quiet_lightning() -> None:
    """Lightning's banners (GPU available..., model summary) are noise in a CLI run."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    # Lightning 2.6 warns about its own use of torch's pytree API on every fit.
    warnings.filterwarnings("ignore", ".*isinstance\\(treespec, LeafSpec\\).*")
    warnings.filterwarnings("ignore", ".*number of training batches.*")
    warnings.filterwarnings("ignore", ".*No positive samples in targets.*")
    warnings.filterwarnings("ignore", ".*No negative samples in targets.*")


def resolve_config(cfg: RunConfig, task: str) -> RunConfig:
    """Fill the "auto" fields so that config.yaml states exactly what ran."""
    monitor, mode = cfg.train.monitor, cfg.train.monitor_mode
    if monitor == "auto":
        monitor, auto_mode = default_monitor(task)
        mode = auto_mode if mode == "auto" else mode
    elif mode == "auto":
        mode = "min" if monitor.endswith("loss") else "max"
    workers = cfg.data.workers if cfg.data.workers is not None else default_workers()
    threshold = check_threshold_option(cfg.train.threshold)
    if task == "multilabel" and cfg.train.sampler == "balanced":
        raise DataError(
            "--sampler balanced needs one class per image; for multi-label data use "
            "--class-weights auto (pos_weight per label) instead"
        )
    if threshold == "auto":
        threshold = "f1" if task == "multilabel" else "0.5"
    return cfg.with_overrides(
        {
            "data.task": task,
            "train.monitor": monitor,
            "train.monitor_mode": mode,
            "data.workers": workers,
            "train.threshold": threshold,
        }
    )


@dataclass
class SplitResult:
    """What training on one train/val split gives: the best network and its epoch's metrics."""

    module: ClassificationTask
    best_epoch: int
    best_metrics: dict[str, float]
    epochs_run: int
    preprocessing: object
    val_probs: np.ndarray | None = None  # (N_val, C) probabilities of the best model, val order
    threshold: float | list[float] | None = None  # stored in model.json; None: arg-max task
    logger: object = None  # the Lightning logger (MLflow/TensorBoard) or None


def split_targets(df: pd.DataFrame, task: str) -> np.ndarray:
    """Training targets of a samples table (or slice): class indices, or (N, C) float vectors."""
    return stack_targets(df) if task in ("multilabel", "soft") else df["target"].to_numpy()


def fit(cfg: RunConfig, *, progress: bool = True, callbacks: list | None = None) -> RunResult:
    """Train one model as described by `cfg` and write its run directory.

    `callbacks` are extra Lightning callbacks for the Trainer (e.g. Optuna's pruning callback).

    >>> from visionfit.config import RunConfig
    >>> cfg = RunConfig.from_dict({"data": {"path": "data/"}, "train": {"epochs": 3}})
    >>> result = fit(cfg)
    >>> result.run_dir, result.best_metrics
    """
    if cfg.data.task == "segment":
        from visionfit.engine.segment import fit_segmentation

        return fit_segmentation(cfg, progress=progress)
    if cfg.cv.enabled:
        raise VisionfitError(
            "this config asks for k-fold cross-validation (cv.folds / cv.folds_file): "
            "call visionfit.cross_validate(cfg), or set cv.folds to 0 for one hold-out run"
        )
    t_start = time.perf_counter()
    quiet_lightning()
    # CSV rows whose file is missing are skipped like unreadable files (listed in skipped.csv);
    # a CSV whose files are all missing, or rows with an empty label, still raise.
    samples = load_samples(cfg.data, missing_files="skip")
    task = resolve_task(samples, cfg.data.task)
    check_model_name(cfg.model.name)
    cfg = resolve_config(cfg, task)
    # Decode every file once (cached) and leave out the ones that cannot be used.
    usable = drop_unusable(samples, cfg.data, progress=progress)
    samples = usable.samples

    if task == "multilabel":
        from visionfit.data.folds import multilabel_holdout

        df = multilabel_holdout(samples.df, cfg.data.val_fraction, cfg.train.seed)
    else:
        df = holdout_split(samples.df, cfg.data.val_fraction, cfg.train.seed)
    # Build the model once before the run directory exists, so that a bad model name or
    # unavailable weights fail without leaving an empty run behind.
    created = _create_model(cfg, task, len(samples.classes))

    run_dir = create_run_dir(cfg.runs_dir, cfg.name or cfg.model.name)
    lock = acquire_run_lock(run_dir)
    atomic_write_text(run_dir / "config.yaml", cfg.to_yaml())
    atomic_write_text(run_dir / "classes.json", json.dumps(samples.classes, indent=2))
    atomic_write_csv(run_dir / "skipped.csv", usable.skipped)
    atomic_write_csv(run_dir / "splits.csv", df[["image", "label", "split"]])
    notes = list(samples.notes)
    if len(usable.skipped):
        notes.append(f"{len(usable.skipped)} unusable files left out (listed in skipped.csv)")
    leaks = leakage_groups(df, {f.image: f.sha1 for f in usable.scan.files if f.ok})
    if leaks:
        notes.append(
            f"identical files in both train and val (leakage): {len(leaks)} groups; "
            "see `visionfit check`"
        )
    return train_in_run_dir(
        cfg,
        task,
        samples.classes,
        df,
        run_dir,
        created,
        t_start=t_start,
        skipped_files=len(usable.skipped),
        ignored_files=samples.ignored_files,
        notes=notes,
        progress=progress,
        lock=lock,
        callbacks=callbacks,
    )


def train_in_run_dir(
    cfg: RunConfig,
    task: str,
    classes: list[str],
    df: pd.DataFrame,
    run_dir: Path,
    created: CreatedModel,
    *,
    t_start: float,
    skipped_files: int,
    ignored_files: int | None,
    notes: list[str],
    progress: bool = True,
    resume_from: str | Path | None = None,
    finished: bool = False,
    lock: RunLock | None = None,
    callbacks: list | None = None,
) -> RunResult:
    """Train on the split in `df` inside an existing run directory and write summary.json.

    `resume_from` continues from a checkpoint of this run; `finished` (the checkpoint was written
    at the end of training) only writes the bundle and summary. `lock` is released at the end,
    also when training fails, so that the run can be resumed from this process."""
    train_df, val_df = df[df["split"] == "train"], df[df["split"] == "val"]
    try:
        split = train_split(
            cfg,
            task,
            classes,
            train_df,
            val_df,
            run_dir,
            progress=progress,
            created=created,
            resume_from=resume_from,
            finished=finished,
            callbacks=callbacks,
        )
    finally:
        if lock is not None:
            lock.release()
    if task == "multilabel" and split.val_probs is not None:  # per-label AUC (scikit-learn)
        scores = score(task, classes, split_targets(val_df, task), split.val_probs)
        split.best_metrics.update({k: v for k, v in scores.items() if k.startswith("val_auroc_")})
    seconds = time.perf_counter() - t_start
    result = RunResult(
        run_dir=run_dir,
        task=task,
        classes=classes,
        monitor=cfg.train.monitor,
        best_epoch=split.best_epoch,
        best_metrics=split.best_metrics,
        seconds=seconds,
        n_train=len(train_df),
        n_val=len(val_df),
        weights_source=created.weights_source,
        skipped_files=skipped_files,
        notes=notes,
        tracking=tracking_info(split.logger),
    )
    summary = {
        **{k: v for k, v in result.__dict__.items() if k != "run_dir"},
        "run_dir": str(run_dir),
        "kind": "single",
        "ignored_files": ignored_files,
        "epochs_run": split.epochs_run,
        "threshold": split.threshold,
    }
    if resume_from is not None:
        summary["resumed_from"] = str(resume_from)
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    save_training_curves(run_dir / "metrics.csv", run_dir / "curves.png")
    log_artifacts(split.logger, run_dir)
    return result


def _create_model(cfg: RunConfig, task: str, num_classes: int) -> CreatedModel:
    # The initial weights depend on the run's seed only, not on what ran before in the process.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        return create_classifier(
            cfg.model.name,
            num_outputs_for(task, num_classes),
            in_chans=cfg.data.in_chans,
            pretrained=cfg.model.pretrained,
            weights=cfg.model.weights,
            drop_rate=cfg.model.drop_rate,
            head=cfg.finetune.head,
            head_hidden=cfg.finetune.head_hidden,
            head_dropout=cfg.finetune.head_dropout,
        )


def train_split(
    cfg: RunConfig,
    task: str,
    classes: list[str],
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    out_dir: Path,
    *,
    progress: bool = True,
    created: CreatedModel | None = None,
    resume_from: str | Path | None = None,
    finished: bool = False,
    threshold: float | list[float] | None = None,
    callbacks: list | None = None,
) -> SplitResult:
    """Train a fresh model on `train_df`, validate on `val_df`, write checkpoints/, metrics.csv
    and the bundle of the best epoch into `out_dir`. Used once per run, or once per CV fold.

    The best model's probabilities on `val_df` come back in `val_probs`, and the decision
    threshold (binary / multi-label) is chosen on them with `train.threshold`. An empty `val_df`
    (a refit on all data) trains for `train.epochs` and keeps the last epoch and the given
    `threshold`.

    `resume_from`: a checkpoint of this same training to continue from (`visionfit train
    --resume`); with `finished` training had ended and only the bundle is written."""
    tc = cfg.train
    L.seed_everything(tc.seed, workers=True, verbose=False)
    created = created or _create_model(cfg, task, len(classes))
    pre = created.preprocessing
    img_size = cfg.augment.img_size
    train_tf = create_transforms(cfg.augment.preset, img_size, pre.mean, pre.std, train=True)
    eval_tf = create_transforms("none", img_size, pre.mean, pre.std, train=False)
    workers = cfg.data.workers or 0
    loader_kw = {
        "num_workers": workers,
        "persistent_workers": workers > 0,
        "pin_memory": torch.cuda.is_available(),
    }
    data_kw = {"max_pixels": cfg.data.max_pixels, "seed": tc.seed}
    # Every sample once per epoch; only a last batch of a single image is dropped (BatchNorm
    # cannot train on one). Order and augmentation are seeded per epoch and sample, and the
    # loader's position is saved in mid-epoch checkpoints (see engine/resumable.py).
    train_targets = split_targets(train_df, task)
    has_val = val_df is not None and len(val_df) > 0
    sampler = (
        balanced_sampler(task, train_targets, tc.seed)
        if tc.sampler == "balanced"
        else EpochSampler(len(train_df), tc.seed)
    )
    train_loader = ResumableDataLoader(
        ImageDataset(train_df["image"], train_targets, train_tf, cfg.data.in_chans, **data_kw),
        sampler=sampler,
        batch_size=tc.batch_size,
        drop_last=len(train_df) % tc.batch_size == 1,
        **loader_kw,
    )
    val_loader = (
        DataLoader(
            ImageDataset(
                val_df["image"], split_targets(val_df, task), eval_tf, cfg.data.in_chans, **data_kw
            ),
            batch_size=tc.batch_size,
            shuffle=False,
            **loader_kw,
        )
        if has_val
        else None
    )

    policy = create_finetune_policy(created.model, cfg.finetune, tc.lr, tc.epochs)
    weight = loss_weight(task, train_targets, len(classes), tc.class_weights)
    module = ClassificationTask(
        created.model,
        task,
        len(classes),
        tc,
        loss_weight=weight,
        steps_per_epoch=len(train_loader),
        param_groups=policy.param_groups,
    )
    ckpt_dir = out_dir / "checkpoints"
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor=tc.monitor if has_val else None,
        mode=tc.monitor_mode,
        save_top_k=1,
        save_last=False,  # last.ckpt comes from ResumeCheckpoint, at resumable points
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    extra_callbacks = list(callbacks or [])
    callbacks = [
        checkpoint,
        EpochMetricsCSV(out_dir / "metrics.csv"),
        StepSeeder(tc.seed),
        ResumeCheckpoint(
            ckpt_dir, every_n_steps=tc.checkpoint_steps, every_minutes=tc.checkpoint_minutes
        ),
        *policy.callbacks,
    ]
    if tc.patience and has_val:
        callbacks.append(
            EarlyStopping(monitor=tc.monitor, mode=tc.monitor_mode, patience=tc.patience)
        )
    if progress:
        callbacks.append(RichProgressBar(leave=True))
    logger = create_logger(cfg, out_dir)
    if logger is not None:
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    callbacks.extend(extra_callbacks)
    if kill_switch := TestKillSwitch.from_env():
        callbacks.append(kill_switch)  # last: after the metrics row and checkpoints
    trainer = L.Trainer(
        max_epochs=tc.epochs,
        accelerator=tc.accelerator,
        devices=1,
        precision=tc.precision,
        deterministic=tc.deterministic,
        callbacks=callbacks,
        logger=logger if logger is not None else False,
        plugins=[AtomicCheckpointIO()],
        default_root_dir=str(out_dir),
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
    )
    if not finished:
        trainer.fit(
            module,
            train_loader,
            val_loader,
            ckpt_path=str(resume_from) if resume_from else None,
            weights_only=True,
        )
        (ckpt_dir / "previous.ckpt").unlink(missing_ok=True)  # only a fallback while training

    best_path = checkpoint.best_model_path or str(ckpt_dir / "last.ckpt")
    if finished and (ckpt_dir / "best.ckpt").is_file():
        best_path = str(ckpt_dir / "best.ckpt")
    ckpt = torch.load(best_path, map_location="cpu", weights_only=True)
    module.load_state_dict(ckpt["state_dict"])
    best_epoch = int(ckpt["epoch"])
    val_probs = None
    if has_val:
        batches = trainer.predict(module, val_loader)
        val_probs = torch.cat(batches).cpu().numpy().astype(np.float64)
        threshold = choose_threshold(task, tc.threshold, split_targets(val_df, task), val_probs)
    elif task in ("binary", "multilabel") and threshold is None:
        threshold = choose_threshold(task, "0.5", None, np.zeros((0, len(classes))))
    metrics = pd.read_csv(out_dir / "metrics.csv")
    best_row = metrics[metrics["epoch"] == best_epoch]
    best_metrics = (
        {k: float(v) for k, v in best_row.iloc[0].items() if k.startswith(("val_", "train_"))}
        if len(best_row)
        else {}
    )
    save_bundle(
        out_dir,
        module.model,
        {
            "task": task,
            "arch": cfg.model.name,
            "num_outputs": num_outputs_for(task, len(classes)),
            "classes": classes,
            "in_chans": cfg.data.in_chans,
            "max_pixels": cfg.data.max_pixels,
            "img_size": img_size,
            "mean": list(pre.mean),
            "std": list(pre.std),
            "interpolation": pre.interpolation,
            "drop_rate": cfg.model.drop_rate,
            "head": cfg.finetune.head,
            "head_hidden": cfg.finetune.head_hidden,
            "head_dropout": cfg.finetune.head_dropout,
            "threshold": 0.5 if threshold is None else threshold,
            "best_epoch": best_epoch,
            "monitor": tc.monitor,
            "monitor_value": best_metrics.get(tc.monitor),
        },
    )
    return SplitResult(
        module=module,
        best_epoch=best_epoch,
        best_metrics=best_metrics,
        epochs_run=int(metrics["epoch"].max()) + 1 if len(metrics) else 0,
        preprocessing=pre,
        val_probs=val_probs,
        threshold=threshold,
        logger=logger,
    )
