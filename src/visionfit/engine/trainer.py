"""`train_split`: train a fresh network on one train/val split, for every task.

Used once by a hold-out run, once per fold by cross-validation and tuning, and by `--resume`.
It owns what every task shares: the seeded, resumable loaders over the one dataset class (built
in engine/loaders.py), the callbacks (metrics.csv, best and resumable checkpoints, early
stopping, progress), tracking, the Trainer, the best epoch, and the bundle. The task
(`tasks/base.py`) supplies the targets, the LightningModule, the post-processing fitted on the
validation data and what model.json holds.
"""

from __future__ import annotations

import logging
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from torch.utils.data import DataLoader

from visionfit.config import RunConfig
from visionfit.data.datasets import DecodeRefusals
from visionfit.data.preprocess import resolve_preprocess
from visionfit.engine.callbacks import (
    BackgroundCheckpointIO,
    EpochMetricsCSV,
    StopOnNonFinite,
    diverged_from_overflow,
    load_checkpoint,
)
from visionfit.engine.dist import world_size
from visionfit.engine.ema import ema_callback, find_ema, use_ema_if_better
from visionfit.engine.epoch_progress import progress_callback
from visionfit.engine.loaders import (  # noqa: F401 (re-exported: importable from here too)
    ShardLoaders,
    _cache_key,
    create_loaders,
    decoded_cache,
    default_workers,
    kept_cache,
    usable_rows,
    with_intensity,
)
from visionfit.engine.refusals import merge_refusals
from visionfit.engine.resumable import (
    ResumableDataLoader,
    ResumeCheckpoint,
    StepSeeder,
    TestKillSwitch,
)
from visionfit.engine.tracking import create_logger
from visionfit.errors import RunError
from visionfit.inference.bundle import save_bundle
from visionfit.inference.predict import Predictor
from visionfit.models.factory import CreatedModel
from visionfit.models.freezing import create_finetune_policy
from visionfit.runs import files as run_files
from visionfit.tasks.base import AfterTraining, Task, TaskData


def quiet_lightning() -> None:
    """Lightning's banners (GPU available..., model summary) are noise in a CLI run."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    # Lightning 2.6 warns about its own use of torch's pytree API on every fit.
    warnings.filterwarnings("ignore", ".*isinstance\\(treespec, LeafSpec\\).*")
    warnings.filterwarnings("ignore", ".*number of training batches.*")
    # a batch whose every image the decoder refused (recorded in skipped.csv) is skipped
    warnings.filterwarnings("ignore", ".*train_dataloader yielded None.*")
    warnings.filterwarnings("ignore", ".*No positive samples in targets.*")
    warnings.filterwarnings("ignore", ".*No negative samples in targets.*")
    # a NaN loss reaching the running mean: StopOnNonFinite stops the run and says so
    warnings.filterwarnings("ignore", ".*Encountered `nan` values in tensor.*")
    # epoch metrics are torchmetrics objects, already reduced over the processes when computed
    warnings.filterwarnings("ignore", ".*when logging on epoch level in distributed setting.*")


def create_model(task: Task, cfg: RunConfig, data: TaskData) -> CreatedModel:
    """The task's network; its initial weights depend on the run's seed only (not on what ran
    before in the process); its intensity mapping comes with its split (`with_intensity`)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        created = task.create_model(cfg, data)
    # its own defaults against the run's options: what training, bundle, predict use
    pre, chans = created.preprocessing, cfg.data.in_chans
    created.preprocessing = resolve_preprocess(cfg.augment, pre, chans)
    if cfg.train.channels_last:  # the first convolution then hands on channels-last tensors
        created.model.to(memory_format=torch.channels_last)
    return created


@dataclass
class SplitResult:
    """What training on one train/val split gives: the best network and its epoch's metrics."""

    module: L.LightningModule
    best_epoch: int
    best_metrics: dict[str, float]
    epochs_run: int
    preprocessing: object
    meta: dict  # the bundle's model.json
    val_probs: np.ndarray | None = None  # per-sample probabilities (tasks that keep them)
    post: dict = field(default_factory=dict)  # post-processing fitted on val (threshold, ...)
    val_final: dict = field(default_factory=dict)  # the task's own final validation scores
    logger: object = None  # the Lightning logger (MLflow/TensorBoard) or None
    weights_source: str = ""
    worker: bool = False  # True in a process other than the main one: nothing more to do


def _callbacks(cfg, out_dir: Path, has_val: bool, policy, logger, extra, progress):
    tc, ckpt_dir = cfg.train, out_dir / "checkpoints"
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor=tc.monitor if has_val else None,
        mode=tc.monitor_mode,
        save_top_k=1,
        save_weights_only=True,  # the bundle's weights; resume continues from last.ckpt
        save_last=False,  # last.ckpt comes from ResumeCheckpoint, at resumable points
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    callbacks = [
        StopOnNonFinite(),  # first: before a checkpoint or a metrics row of NaN weights
        checkpoint,
        EpochMetricsCSV(out_dir / run_files.METRICS),
        StepSeeder(tc.seed),
        ResumeCheckpoint(
            ckpt_dir, every_n_steps=tc.checkpoint_steps, every_minutes=tc.checkpoint_minutes
        ),
        *policy.callbacks,
        *ema_callback(tc.ema_decay if tc.ema else None),
    ]
    if tc.patience and has_val:
        callbacks.append(
            EarlyStopping(monitor=tc.monitor, mode=tc.monitor_mode, patience=tc.patience)
        )
    if (bar := progress_callback(progress)) is not None:  # Rich on a terminal, else log lines
        callbacks.append(bar)
    if logger is not None:
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    callbacks.extend(extra or [])
    if kill_switch := TestKillSwitch.from_env():
        callbacks.append(kill_switch)  # last: after the metrics row and checkpoints
    return checkpoint, callbacks


def train_split(
    task: Task,
    cfg: RunConfig,
    data: TaskData,
    train_df: pd.DataFrame,
    val_df: pd.DataFrame,
    out_dir: Path,
    *,
    progress: bool = True,
    created: CreatedModel | None = None,
    resume_from: str | Path | None = None,
    finished: bool = False,
    post: dict | None = None,
    callbacks: list | None = None,
) -> SplitResult:
    """Train a fresh model on `train_df`, validate on `val_df`, write checkpoints/, metrics.csv
    and the bundle of the best epoch into `out_dir`.

    The task fits its post-processing (decision thresholds, mask threshold and minimum area) on
    the best model's validation outputs. An empty `val_df` (a refit on all data) trains for
    `train.epochs`, keeps the last epoch and the given `post`.

    `resume_from`: a checkpoint of this same training to continue from (`visionfit train
    --resume`); with `finished` training had ended and only the bundle is written."""
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    split = _setup(task, cfg, data, train_df, val_df, out_dir, created, callbacks, progress)
    if not finished and not _fit(task, cfg, data, split, out_dir, resume_from):
        return SplitResult(split.module, -1, {}, 0, split.pre, {}, worker=True)
    _one_process(cfg, split)
    best = _best_epoch(cfg, split, out_dir, finished)
    return _finish(task, cfg, data, split, best, out_dir, post, progress)


@dataclass
class _Split:
    """What `_setup` builds for one split, carried through the steps of `train_split`."""

    created: CreatedModel
    train_df: pd.DataFrame
    val_df: pd.DataFrame
    refusals: DecodeRefusals | None
    train_loader: ResumableDataLoader
    val_loader: DataLoader | None
    module: L.LightningModule
    logger: object
    checkpoint: ModelCheckpoint
    callbacks: list
    trainer: L.Trainer

    @property
    def pre(self):
        return self.created.preprocessing


@dataclass
class _Best:
    """The best epoch, its metrics.csv row (EMA scores merged in when used), the EMA summary."""

    epoch: int
    metrics: dict[str, float]
    epochs_run: int
    ema: dict


def _setup(
    task, cfg, data, train_df, val_df, out_dir: Path, created, callbacks, progress
) -> _Split:
    """The network, the usable rows and their loaders, the module, the callbacks, the Trainer."""
    tc = cfg.train
    created = created or create_model(task, cfg, data)
    pre = created.preprocessing = with_intensity(cfg, data, train_df, created.preprocessing)
    train_df, val_df, refusals = usable_rows(
        task, cfg, data, train_df, val_df, out_dir, progress, pre
    )
    loaders = create_loaders(task, cfg, data, train_df, val_df, pre, refusals=refusals)
    train_loader, val_loader = loaders
    has_val = val_loader is not None
    policy = create_finetune_policy(created.model, cfg.finetune, tc.lr, tc.epochs)
    module = task.create_module(
        cfg,
        data,
        created.model,
        train_df,
        steps_per_epoch=_steps_per_epoch(len(train_df), cfg, train_loader.drop_last),
        param_groups=policy.param_groups,
    )
    logger = create_logger(cfg, out_dir)
    shards = ShardLoaders(train_loader, val_loader)
    checkpoint, all_callbacks = _callbacks(
        cfg, out_dir, has_val, policy, logger, [shards, *(callbacks or [])], progress
    )
    trainer = _trainer(cfg, out_dir, all_callbacks, logger, progress)
    return _Split(
        created,
        train_df,
        val_df,
        refusals,
        train_loader,
        val_loader,
        module,
        logger,
        checkpoint,
        all_callbacks,
        trainer,
    )


def _fit(task, cfg, data, split: _Split, out_dir: Path, resume_from) -> bool:
    """Train (or continue from `resume_from`); False in a process other than the main one."""
    ckpt_dir = out_dir / "checkpoints"
    ckpt = str(resume_from) if resume_from else None
    try:
        split.trainer.fit(
            split.module, split.train_loader, split.val_loader, ckpt_path=ckpt, weights_only=True
        )
    except RuntimeError as e:
        diverged = diverged_from_overflow(e, split.trainer)
        if diverged is None:
            raise
        raise diverged from None
    if not split.trainer.is_global_zero:  # the main process writes the rest
        return False
    (ckpt_dir / "previous.ckpt").unlink(missing_ok=True)  # only a fallback while training
    # images the loaders refused while training: recorded, and out of the final val pass
    split.val_df, refused = merge_refusals(data, out_dir, split.refusals, split.val_df)
    if refused and split.val_loader is not None:
        split.val_loader = create_loaders(task, cfg, data, split.train_df, split.val_df, split.pre)[
            1
        ]
    return True


def _one_process(cfg: RunConfig, split: _Split) -> None:
    """What follows training runs in this process alone, on every val image."""
    if split.trainer.world_size > 1:
        split.trainer = _single_process_trainer(cfg)
        if split.val_loader is not None:
            split.val_loader.sampler.rank, split.val_loader.sampler.world = 0, 1


def _best_epoch(cfg: RunConfig, split: _Split, out_dir: Path, finished: bool) -> _Best:
    """Load the best epoch's weights; its metrics, and the EMA weights' when they score better."""
    ckpt_dir = out_dir / "checkpoints"
    best_epoch = _load_best(split.module, split.checkpoint, ckpt_dir, finished)
    best_metrics, epochs_run = _best_row(out_dir / run_files.METRICS, best_epoch)
    ema = _choose_ema(
        cfg, split.trainer, split.module, split.callbacks, split.val_loader, best_metrics, ckpt_dir
    )
    if ema.get("used"):
        best_metrics = {**best_metrics, **ema["metrics"]}
    return _Best(best_epoch, best_metrics, epochs_run, ema)


def _finish(task, cfg, data, split: _Split, best: _Best, out_dir, post, progress) -> SplitResult:
    """The task's post-processing fitted on val, the bundle, the task's final val scores."""
    tc, module, created = cfg.train, split.module, split.created
    fitted = task.after_training(
        AfterTraining(
            cfg,
            data,
            module,
            split.trainer,
            split.val_loader,
            split.val_df,
            out_dir,
            post,
            progress,
        )
    )
    meta = {
        **_preprocessing_meta(cfg, data, split.pre),
        **task.bundle_meta(cfg, data, created, fitted.post),
        "task_family": task.name,
        "best_epoch": best.epoch,
        "monitor": tc.monitor,
        "monitor_value": best.metrics.get(tc.monitor),
        "tta": tc.tta,
        "ema": {k: v for k, v in best.ema.items() if k != "metrics"} or None,
    }
    save_bundle(out_dir, module.model, meta)
    predictor = Predictor([module.model], meta, out_dir, task)
    val_final = task.evaluate(cfg, data, predictor, split.val_df, out_dir, progress=progress)
    return SplitResult(
        module=module,
        best_epoch=best.epoch,
        best_metrics={**best.metrics, **fitted.extra_metrics},
        epochs_run=best.epochs_run,
        preprocessing=split.pre,
        meta=meta,
        val_probs=fitted.val_probs,
        post=fitted.post,
        val_final=val_final,
        logger=split.logger,
        weights_source=created.weights_source,
    )


def _choose_ema(cfg, trainer, module, callbacks, val_loader, best_metrics, ckpt_dir) -> dict:
    """With `train.ema`: the EMA weights validated once, and kept when they score better."""
    ema = find_ema(callbacks)
    if ema is None:
        return {}
    ema.restore_if_unfitted(ckpt_dir / "last.ckpt")
    tc = cfg.train
    best = best_metrics.get(tc.monitor)
    metrics, used = use_ema_if_better(
        trainer, module, ema, val_loader, tc.monitor, tc.monitor_mode, best
    )
    return {
        "used": used,
        "decay": tc.ema_decay,
        f"ema_{tc.monitor}": metrics.get(tc.monitor),
        f"best_epoch_{tc.monitor}": best,
        "metrics": metrics,
    }


def _preprocessing_meta(cfg: RunConfig, data: TaskData, pre) -> dict:
    """What every bundle records to feed its network as in training (model.json)."""
    # window: DICOM's (data/dicom.py), stored only when given
    kept = cfg.data.model_dump(include={"in_chans", "max_pixels", "window"}, exclude_none=True)
    return {"classes": data.classes, **kept, **pre.meta()}  # pre: img_size, resize, mean, ...


def _steps_per_epoch(n_train: int, cfg: RunConfig, drop_last: bool) -> int:
    """Optimizer steps per epoch in each process (its shard of the training set)."""
    shard_len, batch = -(-n_train // world_size(cfg)), cfg.train.batch_size
    return shard_len // batch if drop_last else -(-shard_len // batch)


def _single_process_trainer(cfg: RunConfig) -> L.Trainer:
    return L.Trainer(
        accelerator=cfg.train.accelerator,
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )


def _trainer(cfg: RunConfig, out_dir: Path, callbacks: list, logger, progress: bool) -> L.Trainer:
    tc = cfg.train
    return L.Trainer(
        max_epochs=tc.epochs,
        accelerator=tc.accelerator,
        devices=tc.devices,
        num_nodes=tc.num_nodes,
        strategy=tc.strategy,
        use_distributed_sampler=False,  # every loader shards itself (data/samplers.py)
        precision=tc.precision,
        deterministic=tc.deterministic,
        callbacks=callbacks,
        logger=logger if logger is not None else False,
        plugins=[BackgroundCheckpointIO()],  # atomic writes, training does not wait
        default_root_dir=str(out_dir),
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        log_every_n_steps=10,
    )


def _load_best(module, checkpoint: ModelCheckpoint, ckpt_dir: Path, finished: bool) -> int:
    """Load the best epoch's weights into `module`; returns that epoch."""
    best_path = checkpoint.best_model_path or str(ckpt_dir / "last.ckpt")
    if finished and (ckpt_dir / "best.ckpt").is_file():
        best_path = str(ckpt_dir / "best.ckpt")
    try:
        ckpt = load_checkpoint(best_path)
    except RunError as e:
        last = ckpt_dir / "last.ckpt"
        if Path(best_path) == last or not last.is_file():
            raise
        # the run still ends with a model, said so, rather than with an error
        print(f"note: {e}; the bundle holds the weights of {last} instead", file=sys.stderr)
        ckpt = load_checkpoint(last)
    module.load_state_dict(ckpt["state_dict"])
    module.eval()
    return int(ckpt["epoch"])


def _best_row(metrics_path: Path, best_epoch: int) -> tuple[dict[str, float], int]:
    metrics = pd.read_csv(metrics_path)
    row = metrics[metrics["epoch"] == best_epoch]
    best = (
        {k: float(v) for k, v in row.iloc[0].items() if k.startswith(("val_", "train_"))}
        if len(row)
        else {}
    )
    return best, int(metrics["epoch"].max()) + 1 if len(metrics) else 0
