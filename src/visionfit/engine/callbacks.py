"""Lightning plumbing for runs: one metrics row per epoch, atomic checkpoints, quiet output."""

from __future__ import annotations

import os
import time
from pathlib import Path

import lightning as L
import pandas as pd
from lightning.pytorch.plugins.io import TorchCheckpointIO

from visionfit.engine.rundir import atomic_write_csv


class EpochMetricsCSV(L.Callback):
    """Write metrics.csv with one row per epoch: train and val metrics, lr, seconds.

    `lr` is the first optimizer group's learning rate averaged over the epoch's steps (so neither
    the warm-up's first step nor a schedule's final zero hides it); named groups get their own
    column (`lr_head`, `lr_backbone`), other extra groups `lr_group<i>`. A group whose parameters
    are all frozen counts as 0. The whole file is rewritten atomically after each epoch, so a kill
    never leaves half a row.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: list[dict] = []
        self._t0 = 0.0
        self._lr_sums: dict[str, float] = {}
        self._steps = 0

    def on_train_epoch_start(self, trainer, pl_module):
        self._t0 = time.perf_counter()
        self._lr_sums, self._steps = {}, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        for key, lr in self._current_lrs(trainer).items():
            self._lr_sums[key] = self._lr_sums.get(key, 0.0) + lr
        self._steps += 1

    @staticmethod
    def _current_lrs(trainer) -> dict[str, float]:
        lrs: dict[str, float] = {}
        for i, group in enumerate(trainer.optimizers[0].param_groups if trainer.optimizers else []):
            # the effective rate: 0 while all of a group's parameters are frozen
            lr = group["lr"] if any(p.requires_grad for p in group["params"]) else 0.0
            if i == 0:
                lrs["lr"] = lr
            name = group.get("name")
            if name or i:
                lrs[f"lr_{name}" if name else f"lr_group{i}"] = lr
        return lrs

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        row: dict = {"epoch": trainer.current_epoch}
        for key, value in sorted(trainer.callback_metrics.items()):
            if key.startswith(("train_", "val_")):
                row[key] = float(value)
        if self._steps:
            row.update({k: v / self._steps for k, v in self._lr_sums.items()})
        else:
            row.update(self._current_lrs(trainer))
        row["seconds"] = round(time.perf_counter() - self._t0, 3)
        self.rows.append(row)
        atomic_write_csv(self.path, pd.DataFrame(self.rows))

    def state_dict(self):
        return {"rows": self.rows}

    def load_state_dict(self, state_dict):
        self.rows = list(state_dict.get("rows", []))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save checkpoints to a temporary file and rename, so a crash never truncates one."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
