"""Training that can be killed and resumed exactly: a seeded, resumable train loader, per-step
seeding, and `last.ckpt` written at points a run can continue from.

How a resumed run gets the same numbers as an uninterrupted one:

* The order of the training samples in epoch *e* is a permutation drawn from ``(seed, e)``
  (`EpochSampler`), and the augmentation of sample *i* in epoch *e* is seeded from
  ``(seed, e, i)`` (`visionfit.data.datasets.ImageDataset`). Neither depends on what ran before,
  nor on the number of DataLoader workers.
* Before every training step the global torch, numpy and Python generators are seeded from
  ``(seed, epoch, batch index)`` (`StepSeeder`), so dropout and any other draw inside the step is
  the same after a resume. No generator state has to be carried in the checkpoint.
* The train loader is *stateful* in Lightning's sense (`state_dict` / `load_state_dict`): a
  checkpoint written in the middle of an epoch records how many batches of that epoch were
  trained, and the resumed loader yields exactly the remaining batches of the same permutation.
  Every sample is seen exactly once per epoch, also across a kill.
* `ResumeCheckpoint` writes `last.ckpt` before the first step of every epoch after the first
  (the state right after the previous epoch's validation, metrics row and scheduler step), every
  N steps or M minutes inside an epoch, and at the end of training. The file it replaces is kept
  as `previous.ckpt`, the fallback when `last.ckpt` is missing or damaged. The writes happen in
  a background thread (`BackgroundCheckpointIO`, engine/callbacks.py) on a copy of the state
  taken at that point, so training does not wait for the disk.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from visionfit.data.samplers import EpochSampler, derive_seed  # noqa: F401 (re-exported)
from visionfit.engine.callbacks import save_keeping_previous, wait_for_checkpoints
from visionfit.errors import RunError

LAST = "last.ckpt"
PREVIOUS = "previous.ckpt"


class ResumableDataLoader(DataLoader):
    """A DataLoader over an `EpochSampler` whose position inside an epoch is saved in checkpoints.

    Lightning saves ``state_dict()`` of a train loader that has one, and calls
    ``load_state_dict()`` before iterating again when it resumes.
    """

    def __init__(self, dataset, *, sampler: EpochSampler, **kwargs):
        super().__init__(dataset, sampler=sampler, **kwargs)
        self._served = 0
        self._served_epoch = 0
        self._rewind_for_save = 0  # batches fetched but not trained when a checkpoint is taken

    def __iter__(self):
        sampler: EpochSampler = self.sampler
        self._served_epoch = sampler.epoch
        self._served = sampler._start // self.batch_size
        return self._count(super().__iter__())

    def _count(self, it):
        for batch in it:
            self._served += 1
            yield batch

    def state_dict(self) -> dict:
        sampler: EpochSampler = self.sampler
        done = self._served - self._rewind_for_save if self._served_epoch == sampler.epoch else 0
        return {"epoch": sampler.epoch, "batches": done, "n": len(sampler)}

    def load_state_dict(self, state: dict) -> None:
        sampler: EpochSampler = self.sampler
        if int(state.get("n", -1)) != len(sampler):
            raise RunError(
                f"the checkpoint was written for {state.get('n')} training images, this run has "
                f"{len(sampler)}: the run's splits.csv or its images changed; start a new run"
            )
        epoch, batches = int(state["epoch"]), int(state["batches"])
        if batches >= len(self):  # the epoch was complete
            epoch, batches = epoch + 1, 0
        sampler.start_at(epoch, batches * self.batch_size)
        self._served_epoch, self._served = epoch, batches


class StepSeeder(L.Callback):
    """Seed torch, numpy and random from ``(seed, epoch, batch)`` before every training step."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        s = derive_seed(self.seed, 1, trainer.current_epoch, batch_idx)
        torch.manual_seed(s)
        np.random.seed(s % 2**32)
        random.seed(s)


class ResumeCheckpoint(L.Callback):
    """Write `last.ckpt` at points a run continues from exactly; keep the one before as
    `previous.ckpt`. Writes are atomic and in the background (the trainer's CheckpointIO plugin,
    `BackgroundCheckpointIO`); Trainer.fit returns once they are on disk.

    Checkpoints are taken *before* a training step (``on_train_batch_start``): at the first step
    of every epoch after the first (the state right after the previous epoch's validation,
    metrics row, early-stopping check and scheduler step), and every `every_n_steps` steps or
    `every_minutes` minutes inside an epoch; one more at the end of training (marked finished).
    Lightning resumes such a state as "in the middle of epoch e, k batches done", a case it
    handles with a stateful loader; its own epoch-boundary states are not resumed cleanly in
    Lightning 2.6 (the next epoch would be skipped), so none are written.
    """

    def __init__(
        self,
        dirpath: str | Path,
        *,
        every_n_steps: int | None = None,
        every_minutes: float | None = None,
    ):
        self.dirpath = Path(dirpath)
        self.every_n_steps = every_n_steps
        self.every_seconds = every_minutes * 60.0 if every_minutes else None
        self._last_step = -1
        self._last_time = time.monotonic()
        self._at_batch_start = False
        self.finished = False

    @property
    def state_key(self) -> str:
        return "ResumeCheckpoint"

    def state_dict(self) -> dict:
        return {"last_step": self._last_step, "finished": self.finished}

    def load_state_dict(self, state_dict: dict) -> None:
        self._last_step = int(state_dict.get("last_step", -1))

    def on_train_start(self, trainer, pl_module):
        self._last_time = time.monotonic()
        if trainer.is_global_zero:  # a write that a kill cut short (the run is locked: no other)
            for stale in self.dirpath.glob(".*.ckpt.*.tmp"):
                stale.unlink(missing_ok=True)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        loader = trainer.train_dataloader
        if isinstance(loader, ResumableDataLoader):
            # The loader's position must agree with Lightning's, or checkpoints would record the
            # wrong place (e.g. a train loader set up before the checkpoint was restored).
            where = (loader._served_epoch, loader._served)
            if where != (trainer.current_epoch, batch_idx + 1):
                raise RuntimeError(
                    f"train loader at epoch {where[0]}, batch {where[1]} but the trainer is at "
                    f"epoch {trainer.current_epoch}, batch {batch_idx + 1}: its saved position "
                    "was not restored"
                )
        step = trainer.global_step
        if step == self._last_step:
            return  # this state is the one just saved, or just resumed from
        due = batch_idx == 0 and trainer.current_epoch > 0
        if batch_idx > 0 and self.every_n_steps and step % self.every_n_steps == 0:
            due = True
        if self.every_seconds is not None:
            due = due or time.monotonic() - self._last_time >= self.every_seconds
        if due:
            self._at_batch_start = True
            if isinstance(loader, ResumableDataLoader):
                loader._rewind_for_save = 1  # this step's batch is fetched but not trained
            try:
                self._save(trainer)
            finally:
                self._at_batch_start = False
                if isinstance(loader, ResumableDataLoader):
                    loader._rewind_for_save = 0

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        if self._at_batch_start:
            # "Is this the epoch's last batch" is worked out again after the next fetch; stored
            # as True it would end the resumed epoch before its last step.
            progress = checkpoint.get("loops", {}).get("fit_loop", {})
            progress = progress.get("epoch_loop.batch_progress")
            if isinstance(progress, dict) and "is_last_batch" in progress:
                progress["is_last_batch"] = False

    def on_train_end(self, trainer, pl_module):
        self.finished = True
        self._save(trainer)

    def on_exception(self, trainer, pl_module, exception):
        if isinstance(exception, KeyboardInterrupt) and (self.dirpath / LAST).exists():
            print(
                f"interrupted; continue with: visionfit train --resume {self.dirpath.parent}",
                file=sys.stderr,
            )

    def _save(self, trainer) -> None:
        self._last_step = trainer.global_step
        if trainer.is_global_zero:
            self.dirpath.mkdir(parents=True, exist_ok=True)
        # Every process calls save_checkpoint; the main one writes, in the background
        # (BackgroundCheckpointIO): the file replaced becomes previous.ckpt once the new one
        # is on disk.
        save_keeping_previous(trainer, self.dirpath / LAST, self.dirpath / PREVIOUS)
        self._last_time = time.monotonic()


class TestKillSwitch(L.Callback):
    """Test hook, inactive unless ``VISIONFIT_TEST_KILL`` is set: the process SIGKILLs itself at
    ``batch:N`` (after the N-th optimizer step's callbacks) or ``epoch_end:E`` (after epoch E's
    metrics row is written). It makes the kill points in the crash tests exact: it first waits
    for the checkpoints being written in the background (as a kill a moment later would find
    them written); the kill itself is a real SIGKILL, indistinguishable from one sent from
    outside at that moment. A kill while a write is still going leaves the checkpoint before it
    (`last.ckpt`, or `previous.ckpt` while the new file is being renamed into place).

    In a K-fold run every fold's trainer counts its own steps from 0: ``fold:K:batch:N`` (or
    ``fold:K:epoch_end:E``) kills in fold K only (``fold_<K>/``, counted from 0), and
    ``refit:batch:N`` in the refit; a plain spec kills in whichever training reaches it first."""

    __test__ = False  # not a pytest test class

    def __init__(self, spec: str):
        kind, _, value = spec.partition(":")
        if kind not in ("batch", "epoch_end") or not value.isdigit():
            raise ValueError(f"VISIONFIT_TEST_KILL must be batch:N or epoch_end:E, got {spec!r}")
        self.kind, self.value = kind, int(value)

    @classmethod
    def from_env(cls) -> TestKillSwitch | None:
        spec = os.environ.get("VISIONFIT_TEST_KILL")
        if not spec or spec.startswith(("fold:", "refit:")):  # for_fold / for_refit add those
            return None
        return cls(spec)

    @classmethod
    def for_fold(cls, k: int) -> TestKillSwitch | None:
        """The switch of ``VISIONFIT_TEST_KILL=fold:K:...`` in fold `k`, else None."""
        spec = os.environ.get("VISIONFIT_TEST_KILL", "")
        prefix = f"fold:{k}:"
        return cls(spec[len(prefix) :]) if spec.startswith(prefix) else None

    @classmethod
    def for_refit(cls) -> TestKillSwitch | None:
        """The switch of ``VISIONFIT_TEST_KILL=refit:...`` in a K-fold run's refit, else None."""
        spec = os.environ.get("VISIONFIT_TEST_KILL", "")
        return cls(spec[len("refit:") :]) if spec.startswith("refit:") else None

    @classmethod
    def for_auto_stage(cls, stage: int) -> TestKillSwitch | None:
        """``VISIONFIT_TEST_KILL_AUTO=stage:K:batch:N`` kills `visionfit auto` in the K-th
        training it starts (counted from 1), so that a test can kill it after K-1 finished."""
        spec = os.environ.get("VISIONFIT_TEST_KILL_AUTO", "")
        kind, _, rest = spec.partition(":")
        k, _, inner = rest.partition(":")
        if kind != "stage" or not k.isdigit():
            return None
        return cls(inner) if int(k) == stage else None

    def _die(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.kind == "batch" and trainer.global_step == self.value:
            wait_for_checkpoints(trainer)
            self._die()

    def on_train_epoch_end(self, trainer, pl_module):
        if self.kind == "epoch_end" and trainer.current_epoch == self.value:
            wait_for_checkpoints(trainer)
            self._die()
