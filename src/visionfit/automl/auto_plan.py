"""How `visionfit auto` spends its budget: candidates timed on this machine, and the choice of
network and epochs with the best expected score in the time left.

A candidate (from `Task.auto_candidates`) is a set of config overrides (network, image size,
pretrained weights) with two priors: `quality`, the score it tends to reach relative to the
small from-scratch CNN, and `epochs_scale`, the epochs it needs to get most of the way there
(pretrained networks need few, from-scratch ones many). Its expected score after E epochs is

    quality * (1 - exp(-E / epochs_scale))

and E is what the measured seconds per epoch allow in the time given. That is a heuristic, not a
learning curve of this dataset; what it decides is printed, and the leaderboard shows what each
choice actually scored.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field

import lightning as L
import torch

from visionfit.engine.lr_range import LR_FIND_STEPS
from visionfit.engine.trainer import create_loaders, create_model, decoded_cache

MAX_EPOCHS = 300
TIMED_STEPS = 16  # at most; the first four are a warm-up (oneDNN builds its kernels) and
# are not counted
TIMING_S = 4.0  # timing stops after this long (at least 6 steps)


@dataclass
class Candidate:
    name: str
    overrides: dict
    quality: float = 1.0
    epochs_scale: float = 10.0
    step_s: float = 0.0  # one training step, with its data loading
    val_batch_s: float = 0.0
    batch_size: int = 32  # of the timed steps and validation batches
    setup_s: float = 0.0  # building the network and its loaders
    steps_per_epoch: int = 0
    val_batches: int = 0
    checkpoint_mb: float = 0.0  # what one training checkpoint holds (weights, optimizer, EMA)
    measured_epoch_s: float = 0.0  # an epoch of a finished run of it (timing.csv), once known
    lr_find: bool = False
    timed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def epoch_s(self) -> float:
        """Training and validation, and what every epoch adds: its metrics row and the
        checkpoints taken at epoch boundaries (about 0.06 s, plus copying last.ckpt's tensors
        and best.ckpt's weights for the background writer, about 1 GB/s; the fsync'd writes
        themselves overlap training); once a run of it has finished, its median epoch
        instead."""
        if self.measured_epoch_s > 0:
            return self.measured_epoch_s
        overhead = 0.06 + 1.5 * self.checkpoint_mb / 1000.0
        return self.steps_per_epoch * self.step_s + self.val_batches * self.val_batch_s + overhead

    def fixed_s(self) -> float:
        """A run's seconds besides its epochs: setup, the LR range test, the validation passes
        after training (post-processing, the EMA, the final scores) and the bundle."""
        lr_find = LR_FIND_STEPS * self.step_s if self.lr_find else 0.0
        return 1.0 + 2 * self.setup_s + lr_find + 3 * self.val_batches * self.val_batch_s

    def epochs_for(self, seconds: float) -> int:
        if not self.timed or self.epoch_s <= 0:
            return 0
        # Rounded, not floored: the Deadline callback cuts a last epoch that does not fit, and
        # the end of a one-cycle or cosine schedule, where the rate is near 0, matters least.
        return max(0, min(MAX_EPOCHS, round((seconds - self.fixed_s()) / self.epoch_s)))

    def seconds_for(self, epochs: int) -> float:
        return self.fixed_s() + epochs * self.epoch_s

    def expected(self, seconds: float) -> float:
        epochs = self.epochs_for(seconds)
        if epochs < 1:
            return -math.inf
        return self.quality * (1 - math.exp(-epochs / self.epochs_scale))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict) -> Candidate:
        return cls(**raw)


def epochs_scale_factor(n_train: int) -> float:
    """How much fewer epochs a network needs on larger data: an epoch of 50,000 images is ten
    epochs of 5,000 in optimizer steps, but not in what it teaches (the same kinds of images
    again), so the factor falls slowly, as (5,000 / n) ** 0.3, and is 1 up to 5,000 images."""
    return min(1.0, (5000 / max(1, n_train)) ** 0.3)


def candidate_config(cfg, cand: Candidate, *, seed: int, epochs: int = 1):
    """`cfg` with the candidate's network, the recipe (`default` unless one is given), seed and
    epochs."""
    recipe = cfg.train.recipe if cfg.train.recipe != "none" else "default"
    return cfg.with_overrides(
        {**cand.overrides, "train.recipe": recipe, "train.seed": seed, "train.epochs": epochs}
    )


class _StepClock(L.Callback):
    def __init__(self):
        self.starts: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.starts.append(time.perf_counter())
        if len(self.starts) >= 7 and self.starts[-1] - self.starts[0] > TIMING_S:
            trainer.should_stop = True

    def on_train_end(self, trainer, pl_module):
        self.starts.append(time.perf_counter())


def time_candidate(task, cfg, data, train_df, val_df, cand: Candidate) -> Candidate:
    """Measure a few training steps (data loading included) and validation batches of `cand`
    on this machine (with the run's EMA, if any); nothing is written."""
    from visionfit.engine.ema import ema_callback

    cfg = cfg.with_overrides({"train.epochs": TIMED_STEPS + 1})  # a schedule that covers them
    created = create_model(task, cfg, data)
    if data.extra.get("decoded_cache") is None:
        # the first candidate's decoded images: the runs of its size use them, and its steps
        # are timed as they will run (decoding every image would add 20-30 % on small images)
        decoded_cache(task, cfg, data, created.preprocessing)
    t0 = time.perf_counter()
    train_loader, val_loader = create_loaders(
        task, cfg, data, train_df, val_df, created.preprocessing
    )
    module = task.create_module(
        cfg,
        data,
        created.model,
        train_df,
        steps_per_epoch=len(train_loader),
        param_groups=None,
    )
    cand.setup_s = time.perf_counter() - t0
    clock = _StepClock()
    ema = ema_callback(cfg.train.ema_decay if cfg.train.ema else None)
    trainer = bare_trainer(cfg, [clock, *ema], max_steps=TIMED_STEPS)
    with warnings.catch_warnings():  # "validation_step but no val_dataloader": on purpose
        warnings.filterwarnings("ignore", ".*val_dataloader.*")
        trainer.fit(module, train_loader)
    gaps = [b - a for a, b in zip(clock.starts[4:], clock.starts[5:], strict=False)]
    cand.step_s = sorted(gaps)[len(gaps) // 2] if gaps else clock.starts[-1] - clock.starts[0]
    cand.val_batch_s = _val_batch_seconds(module, val_loader)
    cand.steps_per_epoch, cand.batch_size = len(train_loader), cfg.train.batch_size
    n_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
    copies = 1 + (2 if cfg.train.opt in ("adam", "adamw") else 1) + int(cfg.train.ema)
    cand.checkpoint_mb = copies * n_bytes / 1e6
    cand.val_batches = len(val_loader) if val_loader is not None else 0
    cand.lr_find = bool(cfg.train.lr_find)
    cand.timed = True
    return cand


@torch.no_grad()
def _val_batch_seconds(module, val_loader, batches: int = 2) -> float:
    if val_loader is None:
        return 0.0
    module.eval()
    device = next(module.parameters()).device
    t0, n = time.perf_counter(), 0
    for n, batch in enumerate(val_loader, start=1):
        module(batch[0].to(device))
        if n >= batches:
            break
    return (time.perf_counter() - t0) / max(1, n)


@dataclass
class Choice:
    candidate: Candidate
    epochs: int
    seconds: float  # the time planned for the whole run
    why: str
    whole: bool = False  # trains all its epochs, whatever the deadline (auto's first model)
    # the time given to the run (`seconds` is that of its whole epochs): a run that times its
    # epochs shorter than planned re-plans them to fill it (engine/deadline.py)
    share_s: float | None = None


def choose(cands: list[Candidate], seconds: float, *, leave_for_more: bool) -> Choice | None:
    """The candidate and epochs with the best expected score in `seconds`; None when none fits.

    With `leave_for_more` (the first run), a candidate that is already saturated in 60 % of
    the time (its expected score within 1 % of what the whole time gives) gets that 60 % when
    the other 40 % holds a run worth starting: the rest buys a second model for the ensemble or
    leaderboard instead of epochs that add little. Without it (a later run), a run shorter than
    half the candidate's `epochs_scale` is not worth starting.
    """
    ranked = sorted(cands, key=lambda c: c.expected(seconds), reverse=True)
    if not ranked or ranked[0].expected(seconds) == -math.inf:
        return None
    if not leave_for_more and ranked[0].epochs_for(seconds) < ranked[0].epochs_scale / 2:
        return None  # a later run this short would only weaken the ensemble
    best = ranked[0]
    share = seconds
    saturated = best.expected(0.6 * seconds) >= 0.99 * best.expected(seconds)
    # the 40 % left must hold a whole second run (a later choice would start a shorter one)
    if leave_for_more and saturated and best.epochs_for(0.4 * seconds) >= best.epochs_scale:
        share = 0.6 * seconds
    epochs = best.epochs_for(share)
    why = f"expected {best.expected(share):.2f} with {epochs} epochs of {best.epoch_s:.1f} s"
    return Choice(best, epochs, best.seconds_for(epochs), why, share_s=share)


def bare_trainer(cfg, callbacks: list, **limits) -> L.Trainer:
    """A Lightning trainer for auto's own measurements (timing, the flip pilot): one device, no
    logger, checkpoints, bars, summary or validation; `limits`: max_steps or max_epochs."""
    return L.Trainer(
        accelerator=cfg.train.accelerator,
        devices=1,
        precision=cfg.train.precision,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        **limits,
    )
