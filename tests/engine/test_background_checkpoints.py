"""Checkpoints written in a background thread (`BackgroundCheckpointIO`): what is written is the
state at the moment it was taken, the writes are on disk before `Trainer.fit` returns, the file
replaced becomes previous.ckpt, and a failed write is raised (or noted), never lost."""

from __future__ import annotations

import errno
import threading
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.utils.data import DataLoader, TensorDataset

from visionfit.engine.callbacks import (
    AtomicCheckpointIO,
    BackgroundCheckpointIO,
    save_keeping_previous,
)
from visionfit.engine.resumable import ResumeCheckpoint


class GatedIO(AtomicCheckpointIO):
    """The atomic writer, held back until `gate` is set; writes of a path in `fail` fail."""

    def __init__(self, fail: tuple[str, ...] = ()):
        self.gate = threading.Event()
        self.gate.set()
        self.fail = fail
        self.written: list[str] = []

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        self.gate.wait(timeout=30)
        if any(str(path).endswith(name) for name in self.fail):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        super().save_checkpoint(checkpoint, path, storage_options)
        self.written.append(str(path))


def test_atomic_write_keeps_the_replaced_file_as_previous(tmp_path):
    io = AtomicCheckpointIO()
    last, previous = tmp_path / "last.ckpt", tmp_path / "previous.ckpt"
    io.save_checkpoint({"step": 1}, last, {"previous": previous})
    assert last.is_file() and not previous.exists()  # nothing to keep yet
    io.save_checkpoint({"step": 2}, last, {"previous": previous})
    assert torch.load(last)["step"] == 2 and torch.load(previous)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "previous.ckpt"]


def test_the_written_state_is_the_one_at_save_time(tmp_path):
    inner = GatedIO()
    io = BackgroundCheckpointIO(inner)
    weights = torch.zeros(4)
    inner.gate.clear()  # the writer waits: training goes on meanwhile
    io.save_checkpoint({"state_dict": {"w": weights}}, tmp_path / "last.ckpt")
    weights += 1  # an optimizer step after the checkpoint was taken
    assert not (tmp_path / "last.ckpt").exists()
    inner.gate.set()
    io.wait()
    assert torch.equal(torch.load(tmp_path / "last.ckpt")["state_dict"]["w"], torch.zeros(4))
    io.teardown()


def test_a_failed_write_is_raised_then_not_again(tmp_path):
    inner = GatedIO(fail=("last.ckpt",))
    io = BackgroundCheckpointIO(inner)
    inner.gate.clear()  # fails after the call returned, as a slow disk would
    io.save_checkpoint({"w": torch.ones(1)}, tmp_path / "last.ckpt")
    inner.gate.set()
    with pytest.raises(OSError, match="No space") as info:
        io.wait()
    assert info.value.filename == str(tmp_path / "last.ckpt")
    io.teardown()  # raised once already


def test_a_failed_write_during_another_error_is_a_note(tmp_path, capsys):
    inner = GatedIO(fail=("last.ckpt",))
    io = BackgroundCheckpointIO(inner)
    inner.gate.clear()
    io.save_checkpoint({"w": torch.ones(1)}, tmp_path / "last.ckpt")
    inner.gate.set()
    with pytest.raises(KeyError):  # the run's own error stays the one raised
        try:
            raise KeyError("training failed")
        except KeyError:
            io.teardown()  # as Lightning does while handling an exception
            raise
    assert "note: a checkpoint was not written" in capsys.readouterr().err


class Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.layer(x), y)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=0.1)


def _fit(tmp_path, inner) -> None:
    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(16, 4, generator=gen), torch.randint(0, 2, (16,)))
    trainer = L.Trainer(
        max_epochs=3,
        callbacks=[ResumeCheckpoint(tmp_path / "checkpoints")],
        plugins=[BackgroundCheckpointIO(inner)],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=str(tmp_path),
    )
    trainer.fit(Tiny(), DataLoader(data, batch_size=4))


def test_fit_returns_after_every_write(tmp_path):
    stale = tmp_path / "checkpoints" / ".last.ckpt.99999.tmp"  # a write a kill cut short
    stale.parent.mkdir()
    stale.write_bytes(b"PK")
    inner = GatedIO()
    _fit(tmp_path, inner)
    assert not stale.exists()
    last = tmp_path / "checkpoints" / "last.ckpt"
    # epochs 1 and 2 start with one, the end of training writes the last: all on disk
    assert inner.written == [str(last)] * 3
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["callbacks"]["ResumeCheckpoint"]["finished"] and ckpt["optimizer_states"]
    assert torch.load(tmp_path / "checkpoints" / "previous.ckpt")["global_step"] == 8


def test_a_failed_background_write_fails_the_fit(tmp_path):
    with pytest.raises(OSError, match="No space") as info:
        _fit(tmp_path, GatedIO(fail=("last.ckpt",)))
    assert info.value.filename.endswith("last.ckpt")


def test_the_wrapped_io_defaults_to_the_atomic_writer():
    io = BackgroundCheckpointIO()
    assert isinstance(io.checkpoint_io, AtomicCheckpointIO)
    assert isinstance(io.checkpoint_io, TorchCheckpointIO)


def test_a_strategy_writing_its_own_files_gets_previous_moved_first(tmp_path):
    """FSDP and DeepSpeed write checkpoints themselves (no CheckpointIO, no storage_options)."""

    class OwnWriter:
        checkpoint_io = BackgroundCheckpointIO()

        def save_checkpoint(self, checkpoint, filepath, storage_options=None):
            raise AssertionError("not called: the trainer's save_checkpoint is faked")

    def save(path, storage_options=None):
        assert storage_options is None
        torch.save({"n": 2}, path)

    trainer = SimpleNamespace(strategy=OwnWriter(), is_global_zero=True, save_checkpoint=save)
    last, previous = tmp_path / "last.ckpt", tmp_path / "previous.ckpt"
    torch.save({"n": 1}, last)
    save_keeping_previous(trainer, last, previous)
    assert torch.load(last)["n"] == 2 and torch.load(previous)["n"] == 1
