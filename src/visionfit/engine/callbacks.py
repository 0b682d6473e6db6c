"""Lightning plumbing for runs: one metrics row per epoch, atomic checkpoints written in the
background, quiet output."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.plugins.io import AsyncCheckpointIO, TorchCheckpointIO
from lightning.pytorch.strategies import Strategy

from visionfit.errors import DivergedError, RunError
from visionfit.fileio import UnreadableFileError, check_regular, name_failed_path
from visionfit.models.weight_files import load_error_reason
from visionfit.runs.rundir import atomic_write_csv

LOWER_LR_HINT = "the learning rate is probably too high: try a lower --lr (e.g. 10x lower)"


def load_checkpoint(path: str | Path) -> dict:
    """A run's own checkpoint, read safely (weights_only=True); a damaged or truncated one is a
    RunError naming it (never torch's advice to unpickle it)."""
    path = Path(path)
    try:
        check_regular(path)
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except UnreadableFileError as e:
        why = e.detail
    except Exception as e:  # truncated zip, not a checkpoint, foreign objects, ...
        why = load_error_reason(e)
    else:
        if isinstance(ckpt, dict) and "state_dict" in ckpt:
            return ckpt
        why = "not a training checkpoint"
    raise RunError(
        f"checkpoint {path} is damaged or incomplete ({why}): it cannot be used; train again "
        "(a new run: visionfit train ...), or restore the file from a copy"
    )


class EpochMetricsCSV(L.Callback):
    """Write metrics.csv with one row per epoch: train and val metrics, learning rates.

    `lr` is the first optimizer group's learning rate averaged over the epoch's steps (so neither
    the warm-up's first step nor a schedule's final zero hides it); named groups get their own
    column (`lr_head`, `lr_backbone`), other extra groups `lr_group<i>`. A group whose parameters
    are all frozen counts as 0.

    Wall-clock seconds per epoch go to timing.csv next to it, so that two runs with the same seed
    (`--deterministic`) give byte-identical metrics.csv files. Both files are rewritten atomically
    after each epoch, so a kill never leaves half a row; their rows and the running learning-rate
    sums live in checkpoints too, so a run resumed mid-epoch continues them.
    """

    def __init__(self, path: str | Path, timing_path: str | Path | None = None):
        self.path = Path(path)
        self.timing_path = Path(timing_path) if timing_path else self.path.with_name("timing.csv")
        self.rows: list[dict] = []
        self.timing: list[dict] = []
        self._t0 = time.perf_counter()
        self._lr_sums: dict[str, float] = {}
        self._steps = 0
        self._sums_epoch = -1  # the epoch the running sums belong to

    def on_train_start(self, trainer, pl_module):
        self._t0 = time.perf_counter()  # a run resumed mid-epoch times the rest of that epoch

    def on_train_epoch_start(self, trainer, pl_module):
        self._t0 = time.perf_counter()
        if self._sums_epoch != trainer.current_epoch:  # not a resume inside this epoch
            self._lr_sums, self._steps = {}, 0
            self._sums_epoch = trainer.current_epoch

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        # Here the rate is the one this step uses (step schedulers move after the step), and the
        # step comes after any mid-epoch checkpoint taken at batch start, so none counts twice.
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
        epoch = row["epoch"]
        # Keyed by epoch: an epoch run again after a resume replaces its row.
        self.rows = sorted(
            [r for r in self.rows if r["epoch"] != epoch] + [row], key=lambda r: r["epoch"]
        )
        seconds = round(time.perf_counter() - self._t0, 3)
        self.timing = [t for t in self.timing if t["epoch"] != epoch] + [
            {"epoch": epoch, "seconds": seconds}
        ]
        if trainer.is_global_zero:  # one writer when several processes train
            atomic_write_csv(self.path, pd.DataFrame(self.rows))
            atomic_write_csv(self.timing_path, pd.DataFrame(self.timing))

    def state_dict(self):
        return {
            "rows": self.rows,
            "timing": self.timing,
            "lr_sums": dict(self._lr_sums),
            "steps": self._steps,
            "sums_epoch": self._sums_epoch,
        }

    def load_state_dict(self, state_dict):
        self.rows = list(state_dict.get("rows", []))
        self.timing = list(state_dict.get("timing", []))
        self._lr_sums = dict(state_dict.get("lr_sums", {}))
        self._steps = int(state_dict.get("steps", 0))
        self._sums_epoch = int(state_dict.get("sums_epoch", -1))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Save checkpoints to a temporary file, fsync it and rename, so a crash never truncates one.

    ``storage_options={"previous": path}``: the file being replaced is first moved to `path`
    (`previous.ckpt`, resume's fallback), once the new one is on disk."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        options = dict(storage_options or {})
        previous = options.pop("previous", None)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            super().save_checkpoint(checkpoint, tmp, options or None)
            with open(tmp, "rb") as f:  # on disk before the rename, not only in the page cache
                os.fsync(f.fileno())
            if previous is not None and path.exists():
                os.replace(path, previous)
            os.replace(tmp, path)
        except OSError as e:
            name_failed_path(e, path)
            raise
        finally:
            tmp.unlink(missing_ok=True)


class BackgroundCheckpointIO(AsyncCheckpointIO):
    """`AtomicCheckpointIO` in a background thread (Lightning's AsyncCheckpointIO): training goes
    on while a checkpoint is serialised, fsync'd and renamed into place.

    Lightning copies every tensor of the checkpoint on the calling thread before handing it over
    (``detach().clone()``), so the steps that follow never change what is written; one thread
    writes, in the order the checkpoints were taken. `wait()` returns once every write handed
    over is on disk; Lightning's teardown, which waits too, runs before ``Trainer.fit`` returns,
    also after an error. A failed write is raised at the next save, `wait()` or teardown (an
    OSError naming the checkpoint: no space, read-only, ...); while another error is already
    ending the run it is printed as a note instead, so that neither is lost."""

    def __init__(self, checkpoint_io: TorchCheckpointIO | None = None) -> None:
        super().__init__(checkpoint_io or AtomicCheckpointIO())

    def wait(self) -> None:
        """Block until every checkpoint handed over is written; raise a failed write's error."""
        if self._executor is not None:
            self._executor.submit(lambda: None).result()  # one thread: runs after the others
        self._raise_error()

    def save_checkpoint(self, *args, **kwargs) -> None:
        self._raise_error()  # an earlier write failed
        try:
            super().save_checkpoint(*args, **kwargs)
        except BaseException:
            self._error = None  # raised here: not again at teardown
            raise

    def remove_checkpoint(self, *args, **kwargs) -> None:
        self.wait()  # never race a write of the same file
        super().remove_checkpoint(*args, **kwargs)

    def load_checkpoint(self, *args, **kwargs):
        self.wait()
        return super().load_checkpoint(*args, **kwargs)

    def teardown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._raise_error()

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is None:
            return
        if sys.exc_info()[1] is not None:  # called while another error ends the run
            print(f"note: a checkpoint was not written: {error}", file=sys.stderr)
            return
        raise error


def save_keeping_previous(trainer, path: Path, previous: Path) -> None:
    """Save a checkpoint of `trainer` at `path`; the file it replaces becomes `previous`. Through
    the atomic writer that happens in the writer, once the new file is on disk; a strategy that
    writes its files itself (FSDP, DeepSpeed: no CheckpointIO) gets it moved first."""
    if type(trainer.strategy).save_checkpoint is Strategy.save_checkpoint and isinstance(
        trainer.strategy.checkpoint_io, AtomicCheckpointIO | BackgroundCheckpointIO
    ):
        trainer.save_checkpoint(path, storage_options={"previous": previous})
        return
    if trainer.is_global_zero and path.exists():
        os.replace(path, previous)
    trainer.save_checkpoint(path)


def wait_for_checkpoints(trainer) -> None:
    """Return once `trainer`'s checkpoints written in the background are on disk."""
    io = getattr(trainer.strategy, "checkpoint_io", None)
    if isinstance(io, BackgroundCheckpointIO):
        io.wait()


class StopOnNonFinite(L.Callback):
    """Stop training at the first loss that is not a finite number, and after an epoch whose
    weights are not all finite: a DivergedError naming the epoch and step, so that no model of
    NaN weights is validated, bundled or presented as a result."""

    def on_before_backward(self, trainer, pl_module, loss):
        if not bool(torch.isfinite(loss.detach()).all()):
            raise DivergedError(
                f"training diverged: the loss is {float(loss.detach().float().mean())} at epoch "
                f"{trainer.current_epoch}, step {trainer.global_step}; {LOWER_LR_HINT}"
            )

    def on_validation_start(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self._check_weights(trainer, pl_module)

    def on_train_end(self, trainer, pl_module):
        self._check_weights(trainer, pl_module)  # a run without validation

    @staticmethod
    def _check_weights(trainer, pl_module) -> None:
        bad = next(
            (n for n, p in pl_module.named_parameters() if not bool(torch.isfinite(p).all())),
            None,
        )
        if bad is not None:
            raise DivergedError(
                f"training diverged: weights of {bad!r} are not finite after epoch "
                f"{trainer.current_epoch}, step {trainer.global_step}; {LOWER_LR_HINT}"
            )


def diverged_from_overflow(error: RuntimeError, trainer) -> DivergedError | None:
    """The DivergedError a float overflow inside an optimizer step means (torch: "value cannot
    be converted to type float without overflow"), or None for another RuntimeError."""
    if "without overflow" not in str(error):
        return None
    return DivergedError(
        f"training diverged: an update overflowed float32 at epoch {trainer.current_epoch}, "
        f"step {trainer.global_step}; {LOWER_LR_HINT}"
    )
