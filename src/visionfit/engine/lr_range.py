"""The LR range test shared by `visionfit lr-find` (engine/lr_find.py) and by recipes that
pick the learning rate themselves (`train.lr_find`, engine/recipes.py)."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from torch.utils.data import DataLoader

from visionfit.config import RunConfig
from visionfit.data.augment import create_augment
from visionfit.data.datasets import ImageDataset
from visionfit.data.transforms import transforms_for
from visionfit.engine.loaders import with_intensity
from visionfit.engine.trainer import create_model
from visionfit.models.freezing import create_finetune_policy

LR_FIND_STEPS = 40  # training steps of the range test a recipe runs before training


def range_test(task, cfg, data, train_df, created, root_dir, lr_range, progress):
    """Lightning's LR range test on the run's model, loader and freezing policy."""
    min_lr, max_lr, num_training = lr_range
    out_dir = root_dir
    pre = with_intensity(cfg, data, train_df, created.preprocessing)
    tf = transforms_for(create_augment(cfg.augment), pre, train=True)
    workers = cfg.data.workers or 0
    loader = DataLoader(
        ImageDataset(
            train_df["image"], task.dataset_targets(cfg, data, train_df), tf, cfg.data.in_chans
        ),
        batch_size=cfg.train.batch_size,
        shuffle=True,
        drop_last=len(train_df) > cfg.train.batch_size,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
    )
    policy = create_finetune_policy(
        created.model, cfg.finetune, cfg.train.lr, max(cfg.train.epochs, 2)
    )
    module = task.create_module(
        cfg, data, created.model, train_df, steps_per_epoch=None, param_groups=policy.param_groups
    )
    epochs = math.ceil(num_training / max(1, len(loader)))
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator=cfg.train.accelerator,
        devices=1,
        precision=cfg.train.precision,
        callbacks=list(policy.callbacks),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=str(out_dir),
    )
    from lightning.pytorch.tuner import Tuner

    finder = Tuner(trainer).lr_find(
        module,
        train_dataloaders=loader,
        min_lr=min_lr,
        max_lr=max_lr,
        num_training=num_training,
        update_attr=False,
    )
    return finder


def suggest_lr(
    task, cfg: RunConfig, data, train_df: pd.DataFrame, *, num_training: int = LR_FIND_STEPS
) -> float | None:
    """The learning rate for a run about to train on `train_df` (recipes with no learning rate
    given), by fastai's valley rule (`_valley`). The model is built from the run's seed, so the
    run itself starts from the same weights."""
    import contextlib
    import io
    import tempfile
    import warnings

    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    created = create_model(task, cfg, data)
    with (
        tempfile.TemporaryDirectory(prefix="visionfit-lr-") as tmp,
        contextlib.redirect_stderr(io.StringIO()),  # the finder's own progress bar
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        finder = range_test(
            task, cfg, data, train_df, created, Path(tmp), (1e-6, 1.0, num_training), False
        )
    return _valley(finder.results if finder is not None else {})


def _valley(results: dict) -> float | None:
    """fastai's "valley" rule: the longest stretch of steadily falling loss, and a rate two
    thirds of the way down it; clipped to 1e-4..1e-2, where AdamW with a one-cycle or cosine
    schedule trains the networks visionfit builds. None when the loss never fell."""
    pairs = [
        (lr, loss)
        for lr, loss in zip(results.get("lr", []), results.get("loss", []), strict=False)
        if math.isfinite(loss)
    ]
    n = len(pairs)
    if n < 5:
        return None
    losses = [loss for _, loss in pairs]
    run = [1] * n  # longest decreasing subsequence ending at each point
    start = end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and run[i] < run[j] + 1:
                run[i] = run[j] + 1
        if run[i] > run[end]:
            end = i
            start = end - run[end] + 1
    if end - start < 2:
        return None
    third = (end - start) / 3
    idx = min(n - 1, start + int(third) + int(third / 2))
    return float(min(1e-2, max(1e-4, pairs[idx][0])))


def apply_lr_find(task, cfg: RunConfig, data, df: pd.DataFrame) -> tuple[RunConfig, list[str]]:
    """With `train.lr_find`: `cfg` with the range test's learning rate (and lr_find off, so that
    config.yaml reruns the same), and a note saying so."""
    if not cfg.train.lr_find:
        return cfg, []
    lr = suggest_lr(task, cfg, data, df[df["split"] == "train"])
    if lr is None:
        note = f"the LR range test gave no clear suggestion: lr {cfg.train.lr:g} kept"
        return cfg.with_overrides({"train.lr_find": False}), [note]
    if lr <= cfg.train.min_lr:  # the schedule's floor: a rate at or below it cannot anneal
        note = f"the LR range test's lr {lr:.3g} is not above --min-lr: lr {cfg.train.lr:g} kept"
        return cfg.with_overrides({"train.lr_find": False}), [note]
    note = f"lr {lr:.3g} from the LR range test (train split only)"
    return cfg.with_overrides({"train.lr": lr, "train.lr_find": False}), [note]
