"""Training's progress in a log (engine/epoch_progress.py): batch lines within an epoch and an
epoch line with its scores and the time the run has left, on a stepped clock."""

from __future__ import annotations

import io
from types import SimpleNamespace

import torch

from visionfit.engine.epoch_progress import LogProgress, progress_callback


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _trainer(epoch: int, max_epochs: int = 4, **metrics):
    values = {k: torch.tensor(v) for k, v in metrics.items()}
    return SimpleNamespace(
        current_epoch=epoch, max_epochs=max_epochs, should_stop=False, callback_metrics=values
    )


def test_epochs_in_a_log(monkeypatch) -> None:
    monkeypatch.setenv("VISIONFIT_PROGRESS_SECONDS", "30")
    clock, out = Clock(), io.StringIO()
    bar = LogProgress(clock=clock, stream=out)
    monkeypatch.setattr(LogProgress, "total_train_batches", property(lambda self: 100))
    bar.on_train_start(None, None)
    for epoch in range(2):
        trainer = _trainer(epoch, train_loss=0.5, val_loss=0.4, val_acc=0.9, lr=0.001)
        bar.on_train_epoch_start(trainer, None)
        for i in range(100):
            clock.now += 0.5  # 50 s per epoch
            bar.on_train_batch_end(trainer, None, None, None, i)
        bar.on_train_epoch_end(trainer, None)
    lines = out.getvalue().splitlines()
    assert lines[0] == "epoch 1/4: 60/100 batches (60 %), 2.0 batches/s, about 20 s left"
    assert lines[1] == (
        "epoch 1/4 done in 50 s: train_loss 0.5000, val_loss 0.4000, val_acc 0.9000; "
        "about 2 min 30 s left for 3 more epochs"
    )
    assert lines[-1].startswith("epoch 2/4 done in 50 s") and "about 1 min 40 s left" in lines[-1]
    assert "lr" not in lines[-1]


def test_no_progress_no_callback() -> None:
    assert progress_callback(False) is None
    assert isinstance(progress_callback(True), LogProgress)  # pytest's stderr is no terminal
