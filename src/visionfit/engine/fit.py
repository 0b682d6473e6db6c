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
from visionfit.data.datasets import ImageDataset
from visionfit.data.sources import load_samples, resolve_task
from visionfit.data.splits import holdout_split
from visionfit.data.transforms import create_transforms
from visionfit.engine.bundle import save_bundle
from visionfit.engine.callbacks import AtomicCheckpointIO, EpochMetricsCSV
from visionfit.engine.rundir import atomic_write_csv, atomic_write_text, create_run_dir
from visionfit.engine.tracking import create_logger, log_artifacts, tracking_info
from visionfit.models.factory import CreatedModel, check_model_name, create_classifier
from visionfit.models.freezing import create_finetune_policy
from visionfit.reports.curves import save_training_curves
from visionfit.tasks.classification import ClassificationTask, default_monitor, num_outputs_for


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
    return cfg.with_overrides(
        {
            "data.task": task,
            "train.monitor": monitor,
            "train.monitor_mode": mode,
            "data.workers": workers,
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
    logger: object = None  # the Lightning logger (MLflow/TensorBoard) or None


def fit(cfg: RunConfig, *, progress: bool = True, callbacks: list | None = None) -> RunResult:
    """Train one model as described by `cfg` and write its run directory.

    `callbacks` are extra Lightning callbacks for the Trainer (e.g. Optuna's pruning callback).

    >>> from visionfit.config import RunConfig
    >>> cfg = RunConfig.from_dict({"data": {"path": "data/"}, "train": {"epochs": 3}})
    >>> result = fit(cfg)
    >>> result.run_dir, result.best_metrics
    """
    t_start = time.perf_counter()
    quiet_lightning()
    samples = load_samples(cfg.data)
    task = resolve_task(samples, cfg.data.task)
    check_model_name(cfg.model.name)
    cfg = resolve_config(cfg, task)

    df = holdout_split(samples.df, cfg.data.val_fraction, cfg.train.seed)
    # Build the model once before the run directory exists, so that a bad model name or
    # unavailable weights fail without leaving an empty run behind.
    created = _create_model(cfg, task, len(samples.classes))

    run_dir = create_run_dir(cfg.runs_dir, cfg.name or cfg.model.name)
    atomic_write_text(run_dir / "config.yaml", cfg.to_yaml())
    atomic_write_text(run_dir / "classes.json", json.dumps(samples.classes, indent=2))
    atomic_write_csv(run_dir / "splits.csv", df[["image", "label", "split"]])

    train_df, val_df = df[df["split"] == "train"], df[df["split"] == "val"]
    split = train_split(
        cfg,
        task,
        samples.classes,
        train_df,
        val_df,
        run_dir,
        progress=progress,
        created=created,
        callbacks=callbacks,
    )
    seconds = time.perf_counter() - t_start
    result = RunResult(
        run_dir=run_dir,
        task=task,
        classes=samples.classes,
        monitor=cfg.train.monitor,
        best_epoch=split.best_epoch,
        best_metrics=split.best_metrics,
        seconds=seconds,
        n_train=len(train_df),
        n_val=len(val_df),
        weights_source=created.weights_source,
        skipped_files=0,
        notes=samples.notes,
        tracking=tracking_info(split.logger),
    )
    summary = {
        **{k: v for k, v in result.__dict__.items() if k != "run_dir"},
        "run_dir": str(run_dir),
        "kind": "single",
        "ignored_files": samples.ignored_files,
        "epochs_run": split.epochs_run,
    }
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    save_training_curves(run_dir / "metrics.csv", run_dir / "curves.png")
    log_artifacts(split.logger, run_dir)
    return result


def _create_model(cfg: RunConfig, task: str, num_classes: int) -> CreatedModel:
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
    callbacks: list | None = None,
) -> SplitResult:
    """Train a fresh model on `train_df`, validate on `val_df`, write checkpoints/, metrics.csv
    and the bundle of the best epoch into `out_dir`. Used once per run, or once per CV fold."""
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
    train_loader = DataLoader(
        ImageDataset(train_df["image"], train_df["target"], train_tf, cfg.data.in_chans),
        batch_size=tc.batch_size,
        shuffle=True,
        drop_last=len(train_df) > tc.batch_size,
        **loader_kw,
    )
    val_loader = DataLoader(
        ImageDataset(val_df["image"], val_df["target"], eval_tf, cfg.data.in_chans),
        batch_size=tc.batch_size,
        shuffle=False,
        **loader_kw,
    )

    policy = create_finetune_policy(created.model, cfg.finetune, tc.lr, tc.epochs)
    module = ClassificationTask(
        created.model, task, len(classes), tc, param_groups=policy.param_groups
    )
    ckpt_dir = out_dir / "checkpoints"
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor=tc.monitor,
        mode=tc.monitor_mode,
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    extra_callbacks = list(callbacks or [])
    callbacks = [checkpoint, EpochMetricsCSV(out_dir / "metrics.csv"), *policy.callbacks]
    if tc.patience:
        callbacks.append(
            EarlyStopping(monitor=tc.monitor, mode=tc.monitor_mode, patience=tc.patience)
        )
    if progress:
        callbacks.append(RichProgressBar(leave=True))
    logger = create_logger(cfg, out_dir)
    if logger is not None:
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    callbacks.extend(extra_callbacks)
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
    trainer.fit(module, train_loader, val_loader)

    best_path = checkpoint.best_model_path or str(ckpt_dir / "last.ckpt")
    ckpt = torch.load(best_path, map_location="cpu", weights_only=True)
    module.load_state_dict(ckpt["state_dict"])
    best_epoch = int(ckpt["epoch"])
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
            "img_size": img_size,
            "mean": list(pre.mean),
            "std": list(pre.std),
            "interpolation": pre.interpolation,
            "drop_rate": cfg.model.drop_rate,
            "head": cfg.finetune.head,
            "head_hidden": cfg.finetune.head_hidden,
            "head_dropout": cfg.finetune.head_dropout,
            "threshold": 0.5,
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
        logger=logger,
    )
