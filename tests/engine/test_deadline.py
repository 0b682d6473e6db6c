"""The Deadline callback's re-plan: epochs counted from a timed epoch, the schedule stretched."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from visionfit.config import TrainConfig
from visionfit.engine import deadline as deadline_mod
from visionfit.engine.deadline import Deadline
from visionfit.tasks.optim import configure_optimization

STEPS_PER_EPOCH = 10


class FakeClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class FakeTrainer:
    """What Deadline reads of a Lightning trainer: its epochs (max_epochs reads the fit loop's,
    as Lightning's does) and its schedules."""

    def __init__(self, sched: str = "onecycle", epochs: int = 10):
        param = torch.nn.Parameter(torch.zeros(3))
        cfg = TrainConfig(epochs=epochs, sched=sched, lr=0.1, opt="sgd")
        conf = configure_optimization([param], cfg, STEPS_PER_EPOCH * epochs)
        self.lr_scheduler_configs = []
        if isinstance(conf, dict):
            s = conf["lr_scheduler"]
            config = SimpleNamespace(scheduler=s["scheduler"], interval=s["interval"])
            self.lr_scheduler_configs = [config]
        self.fit_loop = SimpleNamespace(max_epochs=epochs)
        self.current_epoch = 0

    @property
    def max_epochs(self) -> int:
        return self.fit_loop.max_epochs


def run_epochs(cb: Deadline, trainer, clock: FakeClock, epoch_s: list[float]) -> None:
    """Epoch starts `epoch_s` seconds apart, the schedule stepped through each epoch."""
    cb.on_train_start(trainer, None)
    for seconds in epoch_s:
        cb.on_train_epoch_start(trainer, None)
        for _ in range(STEPS_PER_EPOCH):
            for c in trainer.lr_scheduler_configs:
                if c.interval == "step":
                    c.scheduler.step()
        clock.t += seconds
        trainer.current_epoch += 1


@pytest.fixture
def clock(monkeypatch):
    c = FakeClock()
    monkeypatch.setattr(deadline_mod.time, "time", c)
    return c


def test_faster_epochs_than_planned_get_more_epochs_and_a_longer_schedule(clock):
    """Planned 10 epochs of 10 s in 100 s; epochs take 5 s: 19 fit (a 4 % margin)."""
    trainer = FakeTrainer("onecycle", epochs=10)
    said: list[str] = []
    cb = Deadline(clock.t + 500, plan_end=clock.t + 100, say=said.append)
    run_epochs(cb, trainer, clock, [5.0, 5.0])
    sched = trainer.lr_scheduler_configs[0].scheduler
    assert trainer.max_epochs == cb.epochs == 19
    assert sched.total_steps == 19 * STEPS_PER_EPOCH
    assert said and "19 epochs (was 10)" in said[0]


def test_slower_epochs_shorten_the_run_so_its_schedule_ends(clock):
    """Epochs twice as slow as planned: the schedule is shortened, at any point of the run, to
    what still fits (with the reserve kept for the run's tail)."""
    trainer = FakeTrainer("cosine", epochs=10)
    cb = Deadline(clock.t + 500, reserve_s=10.0, plan_end=clock.t + 100)
    run_epochs(cb, trainer, clock, [20.0])
    # at the start of epoch 2: 80 s left, 10 kept for the tail, 70 / (20 * 1.04) -> 3 more
    cb.on_train_epoch_start(trainer, None)
    assert trainer.max_epochs == 4
    assert trainer.lr_scheduler_configs[0].scheduler.lr_lambdas[0].total == 4 * STEPS_PER_EPOCH


def test_past_the_first_quarter_a_run_is_never_lengthened(clock):
    trainer = FakeTrainer("onecycle", epochs=8)
    cb = Deadline(clock.t + 500, plan_end=clock.t + 80)
    run_epochs(cb, trainer, clock, [10.0, 10.0])  # as planned: nothing changes
    assert trainer.max_epochs == 8 and cb.epochs is None
    # now epochs get much faster, after the warm-up
    run_epochs(cb, trainer, clock, [2.0, 2.0])
    assert trainer.max_epochs == 8 and cb.epochs is None


def test_no_plan_no_replan_and_schedules_without_a_length_are_left_alone(clock):
    trainer = FakeTrainer("onecycle", epochs=10)
    cb = Deadline(clock.t + 500)  # no plan_end: `train --time-limit`-style cut only
    run_epochs(cb, trainer, clock, [1.0, 1.0])
    assert trainer.max_epochs == 10

    plateau = FakeTrainer("plateau", epochs=10)
    cb = Deadline(clock.t + 500, plan_end=clock.t + 100)
    run_epochs(cb, plateau, clock, [1.0, 1.0])
    assert plateau.max_epochs == 10 and cb.epochs is None


def test_a_resumed_run_keeps_its_replanned_epochs(clock):
    trainer = FakeTrainer("onecycle", epochs=10)
    cb = Deadline(clock.t + 500, plan_end=clock.t + 100)
    run_epochs(cb, trainer, clock, [5.0, 5.0])
    state = cb.state_dict()

    resumed = FakeTrainer("onecycle", epochs=10)  # rebuilt from the run's config
    again = Deadline(clock.t + 500)
    again.load_state_dict(state)
    again.on_train_start(resumed, None)
    assert resumed.max_epochs == 19
