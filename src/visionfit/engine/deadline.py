"""Stop training at a wall-clock deadline (`visionfit auto --budget`), leaving time to validate,
write the best checkpoint and the bundle.

Checked after every training step: when the time left would not cover one more step plus a
validation pass (both measured in this run), the Trainer is told to stop; Lightning then still
validates the partial epoch, writes its metrics row and the final checkpoint, so the run ends
like any other (and `--resume` treats it as finished).
"""

from __future__ import annotations

import time

import lightning as L


class Deadline(L.Callback):
    """`deadline`: a `time.time()` value; `reserve_s`: seconds kept for what follows training in
    the same run (fitting post-processing, the bundle, the final validation scores)."""

    def __init__(self, deadline: float, reserve_s: float = 0.0):
        self.deadline = deadline
        self.reserve_s = reserve_s
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

    def on_validation_epoch_start(self, trainer, pl_module):
        self._t_val = time.perf_counter()

    def on_validation_epoch_end(self, trainer, pl_module):
        self._val_s = time.perf_counter() - self._t_val
