"""Stop training at a wall-clock deadline (`visionfit auto --budget`), leaving time to validate,
write the best checkpoint and the bundle.

Checked after every training step: when the time left would not cover one more step plus a
validation pass (both measured in this run), the Trainer is told to stop; Lightning then still
validates the partial epoch, writes its metrics row and the final checkpoint, so the run ends
like any other (and `--resume` treats it as finished).

Given `plan_end`, the time the run's training was planned to end by (auto's share for it), it
also re-plans the run's epochs from the epochs it has timed: `auto` sizes a run from a few timed
steps, which can be off by a tenth or more (a machine still busy after the data scan, a first
epoch's warm-up). At each epoch's start it counts the epochs that fit in the time left, at the
last whole epoch's pace (training, validation, checkpoints), and stretches the per-step schedule
(onecycle, cosine) to them: longer while the run is in its first quarter, shorter whenever the
planned epochs would not fit. So the time planned is used, and the schedule anneals to its end
instead of being cut at a high learning rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import lightning as L

# Re-planned epochs assume each epoch takes this much longer than the last one did: a run
# that comes out a little short leaves seconds unused; one that comes out long is cut unannealed.
REPLAN_MARGIN = 1.04
EXTEND_WHILE = 0.25  # more epochs only within the run's first quarter (its warm-up)
MAX_STRETCH = 3.0  # never more than three times the epochs planned


class Deadline(L.Callback):
    """`deadline`: a `time.time()` value; `reserve_s`: seconds kept for what follows training in
    the same run (fitting post-processing, the bundle, the final validation scores)."""

    def __init__(
        self,
        deadline: float,
        reserve_s: float = 0.0,
        *,
        plan_end: float | None = None,
        say: Callable[[str], None] | None = None,
    ):
        self.deadline = deadline
        self.reserve_s = reserve_s
        self.plan_end = plan_end
        self._say = say
        self.planned_epochs: int | None = None  # max_epochs when training started
        self.epochs: int | None = None  # the re-planned epochs, once changed (kept in checkpoints)
        self._epoch_t0: float | None = None
        self._epoch_s = 0.0
        self.stopped_early = False
        self.ended_at: float | None = None  # time.time() when training ended (the tail follows)
        self._step_s = 0.0
        self._val_s = 0.0
        self._t_batch = 0.0
        self._t_val = 0.0

    def _left(self) -> float:
        return self.deadline - time.time() - self.reserve_s

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._t_batch = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._step_s = max(self._step_s * 0.9, time.perf_counter() - self._t_batch)
        if self._left() < self._step_s + self._val_s:
            trainer.should_stop = True
            self.stopped_early = True

    def on_train_end(self, trainer, pl_module):
        self.ended_at = time.time()

    def on_train_start(self, trainer, pl_module):
        self.planned_epochs = self.planned_epochs or trainer.max_epochs
        if self.epochs is not None:  # resumed after a re-plan: the schedule's state has it too
            trainer.fit_loop.max_epochs = self.epochs

    def on_train_epoch_start(self, trainer, pl_module):
        now = time.time()
        if self._epoch_t0 is not None:  # the last whole epoch: training, validation, checkpoints
            self._epoch_s = now - self._epoch_t0
        self._epoch_t0 = now
        if self.plan_end is not None and self._epoch_s > 0:
            self._replan(trainer, now)

    def _replan(self, trainer, now: float) -> None:
        done, planned = trainer.current_epoch, trainer.max_epochs
        if not planned or planned < 1 or done >= planned:
            return
        left = min(self.plan_end, self.deadline) - now - self.reserve_s
        pace = left / self._epoch_s  # epochs that fit at the last one's pace
        fits = done + max(1, int(pace / REPLAN_MARGIN))
        fits = min(fits, int(MAX_STRETCH * (self.planned_epochs or planned)))
        if planned <= done + pace:  # the plan fits: lengthen it only in its warm-up
            if fits <= planned or done >= EXTEND_WHILE * planned:
                return  # past the warm-up, a longer schedule would climb back up
        if fits == planned or not _stretch(trainer, fits / planned):
            return
        trainer.fit_loop.max_epochs = self.epochs = fits
        if self._say is not None:
            self._say(
                f"  re-planned to {fits} epochs (was {planned}): an epoch takes "
                f"{self._epoch_s:.1f} s here"
            )

    def state_dict(self) -> dict:
        return {"epochs": self.epochs} if self.epochs is not None else {}

    def load_state_dict(self, state_dict: dict) -> None:
        self.epochs = state_dict.get("epochs", self.epochs)

    def on_validation_epoch_start(self, trainer, pl_module):
        self._t_val = time.perf_counter()

    def on_validation_epoch_end(self, trainer, pl_module):
        self._val_s = time.perf_counter() - self._t_val


def _stretch(trainer, factor: float) -> bool:
    """Every per-step schedule of the run stretched by `factor`; False (nothing changed) when
    one has no length to stretch (step, plateau) or there is no schedule."""
    from visionfit.tasks.optim import schedule_length, stretch_schedule

    configs = [c for c in trainer.lr_scheduler_configs if c.interval == "step"]
    lengths = [schedule_length(c.scheduler) for c in configs]
    if not configs or any(n is None for n in lengths):
        return False
    for c, n in zip(configs, lengths, strict=True):
        stretch_schedule(c.scheduler, round(n * factor))
    return True
