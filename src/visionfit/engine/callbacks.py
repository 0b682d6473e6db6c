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
    """Write metrics.csv with one row per epoch: train and val metrics, lr.

    Wall-clock seconds per epoch go to timing.csv next to it, so that two runs with the same seed
    (`--deterministic`) give byte-identical metrics.csv files. Both files are rewritten atomically
    after each epoch, so a kill never leaves half a row; their rows live in checkpoints too, so a
    resumed run continues them.
    """

    def __init__(self, path: str | Path, timing_path: str | Path | None = None):
        self.path = Path(path)
        self.timing_path = Path(timing_path) if timing_path else self.path.with_name("timing.csv")
        self.rows: list[dict] = []
        self.timing: list[dict] = []
        self._t0 = time.perf_counter()

    def on_train_epoch_start(self, trainer, pl_module):
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        row: dict = {"epoch": trainer.current_epoch}
        for key, value in sorted(trainer.callback_metrics.items()):
            if key.startswith(("train_", "val_")):
                row[key] = float(value)
        for i, group in enumerate(trainer.optimizers[0].param_groups if trainer.optimizers else []):
            row["lr" if i == 0 else f"lr_group{i}"] = group["lr"]
        epoch = row["epoch"]
        # Keyed by epoch: an epoch run again after a resume replaces its row.
        self.rows = sorted(
            [r for r in self.rows if r["epoch"] != epoch] + [row], key=lambda r: r["epoch"]
        )
        seconds = round(time.perf_counter() - self._t0, 3)
        self.timing = [t for t in self.timing if t["epoch"] != epoch] + [
            {"epoch": epoch, "seconds": seconds}
        ]
        atomic_write_csv(self.path, pd.DataFrame(self.rows))
        atomic_write_csv(self.timing_path, pd.DataFrame(self.timing))

    def on_train_start(self, trainer, pl_module):
        self._t0 = time.perf_counter()  # a run resumed mid-epoch times the rest of that epoch

    def state_dict(self):
        return {"rows": self.rows, "timing": self.timing}

    def load_state_dict(self, state_dict):
        self.rows = list(state_dict.get("rows", []))
        self.timing = list(state_dict.get("timing", []))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save checkpoints to a temporary file and rename, so a crash never truncates one."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            with open(tmp, "rb") as f:  # on disk before the rename, not only in the page cache
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
