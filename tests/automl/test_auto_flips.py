"""Flips chosen by what validation says (automl/auto_flips.py), the augmentation without them,
and auto's reserves for the end of a run and of the budget (no wall clock: fake scores and
clocks)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import albumentations as A
import pandas as pd
import pytest

from visionfit.automl import auto_flips
from visionfit.automl.auto import FINAL_FIXED_S, MARGIN, final_reserve
from visionfit.automl.auto_flips import FlipDecision, decide_flips, flip_stage
from visionfit.automl.auto_plan import Candidate
from visionfit.automl.auto_stages import RUN_TAIL_S, run_tail_s
from visionfit.config import RunConfig
from visionfit.config.augment import AugmentConfig
from visionfit.data.augment import _walk, create_augment, run_augment_text
from visionfit.engine import deadline as deadline_module
from visionfit.engine.deadline import Deadline
from visionfit.engine.recipes import resolve_recipe


def test_a_chiral_set_gets_no_flips_a_symmetric_one_keeps_them():
    digits = decide_flips("val_acc", 0.98, 0.35, 0.1)  # the bundled digits' pilot
    assert digits.hflip is False
    assert digits.overrides() == {"augment.hflip": False, "train.tta": "none"}
    assert digits.line() == (
        "horizontal flips: off (validation acc on mirrored images 0.35 vs 0.98: "
        "kept 28% of its score above chance (0.10) on mirrored images)"
    )
    clothes = decide_flips("val_acc", 0.78, 0.66, 0.1)  # Fashion-MNIST's, 2 epochs
    assert clothes.hflip is True
    assert clothes.overrides() == {"augment.hflip": True, "train.tta": "hflip"}
    assert "on, with flipped test-time augmentation" in clothes.line()
    # a pilot that learned nothing, or could not score, decides nothing
    assert decide_flips("val_acc", 0.15, 0.10, 0.1).overrides() == {}
    assert decide_flips("val_auroc", 0.9, 0.55, 0.5).hflip is False  # 12 % of 0.4 kept
    assert decide_flips("", math.nan, math.nan).hflip is None


class _Clock:
    budget_s, deadline = 600.0, 1e12

    def __init__(self):
        self.lines = []

    def left(self):
        return 500.0

    def say(self, msg):
        self.lines.append(msg)


def _stage(monkeypatch, scores, task=None, given=frozenset()):
    monkeypatch.setattr(auto_flips, "run_flip_pilot", lambda *a, **k: scores)
    df = pd.DataFrame(
        {"image": [f"{i}.png" for i in range(40)], "split": ["train"] * 30 + ["val"] * 10}
    )
    cand = Candidate("simple_cnn-28px", {"model.name": "simple_cnn"}, timed=True)
    cand.step_s, cand.steps_per_epoch = 0.01, 10
    state, clock = {"stages": [], "notes": []}, _Clock()
    task = task or SimpleNamespace(spatial_output=False)
    cfg = flip_stage(state, task, RunConfig(), None, df, [cand], clock, lambda: None, set(given))
    return cfg, state, clock


def test_the_flip_stage_applies_and_records_the_decision(monkeypatch):
    cfg, state, clock = _stage(monkeypatch, ("val_acc", 0.97, 0.41, 0.1))
    assert cfg.augment.hflip is False and cfg.train.tta == "none"
    assert state["flips"]["hflip"] is False and state["flips"]["mirrored"] == 0.41
    assert "horizontal flips: off" in state["notes"][0] and clock.lines[-1] == state["notes"][0]
    assert not state["stages"] and state["flips"]["seconds"] >= 0  # not a leaderboard stage
    cfg, state, _ = _stage(monkeypatch, ("val_acc", 0.91, 0.88, 0.1))
    assert cfg.augment.hflip is True and cfg.train.tta == "hflip"


def test_no_pilot_for_maps_or_flips_the_user_chose(monkeypatch):
    cfg, state, _ = _stage(
        monkeypatch, ("val_acc", 0.97, 0.41, 0.1), SimpleNamespace(spatial_output=True)
    )
    assert state["flips"]["hflip"] is None and cfg == RunConfig() and not state["stages"]
    cfg, state, _ = _stage(monkeypatch, ("val_acc", 0.97, 0.41, 0.1), given={"train.tta"})
    assert "train.tta given" in state["flips"]["why"] and cfg.train.tta == "none"


@pytest.mark.parametrize("preset", ["light", "medium", "trivial", "heavy"])
def test_augment_hflip_false_drops_the_presets_flips_only(preset):
    def names(compose):
        return [type(t).__name__ for t in _walk(compose)]

    with_flips = names(create_augment(AugmentConfig(preset=preset)))
    without = names(create_augment(AugmentConfig(preset=preset, hflip=False)))
    assert "HorizontalFlip" in with_flips and "HorizontalFlip" not in without
    assert [n for n in with_flips if n != "HorizontalFlip"] == without
    assert isinstance(create_augment(AugmentConfig(preset=preset, hflip=False)), A.Compose)
    assert "without its horizontal flips" in run_augment_text(AugmentConfig(hflip=False))


def test_no_recipe_adds_test_time_flips_to_a_run_trained_without_flips():
    cfg = RunConfig().with_overrides({"train.recipe": "best"})
    assert resolve_recipe(cfg, "scratch", 5000)[0].train.tta == "hflip"
    resolved, notes = resolve_recipe(cfg.with_overrides({"augment.hflip": False}), "scratch", 5000)
    assert resolved.train.tta == "none" and any("test-time flips" in n for n in notes)


def test_auto_keeps_time_for_the_end_of_each_run_and_of_the_budget():
    cand = Candidate("c", {}, timed=True, val_batches=10, val_batch_s=0.1, batch_size=32)
    assert run_tail_s({"stages": []}, cand) == pytest.approx(1.0 + 3.0 + RUN_TAIL_S)
    small = {"stages": [], "budget_s": 40.0}  # a small budget: at most 5 % of it
    assert run_tail_s(small, cand) == pytest.approx(1.0 + 3.0 + 2.0)
    measured = {"stages": [{"tail_s": 10.0}, {"tail_s": 4.0}, {"kind": "baseline"}]}
    assert run_tail_s(measured, cand) == pytest.approx(1.0 + 3.0 + 12.0)
    assert final_reserve(600, [cand], 936) == pytest.approx(
        FINAL_FIXED_S + MARGIN * 600 + 3 * (0.1 / 32) * 1000
    )
    assert final_reserve(60, [cand], 936) == pytest.approx(
        0.03 * 60 + MARGIN * 60 + 3 * (0.1 / 32) * 1000
    )


def test_deadline_stops_when_a_step_and_validation_no_longer_fit(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(deadline_module.time, "time", lambda: now[0])
    ticks = iter(range(100))
    monkeypatch.setattr(deadline_module.time, "perf_counter", lambda: float(next(ticks)))
    trainer = SimpleNamespace(should_stop=False)
    cb = Deadline(deadline=1020.0, reserve_s=5.0)  # 15 s for training, steps of 1 s
    cb.on_validation_epoch_start(trainer, None)
    cb.on_validation_epoch_end(trainer, None)  # validation: 1 s
    cb.on_train_batch_start(trainer, None, None, 0)
    cb.on_train_batch_end(trainer, None, None, None, 0)
    assert not trainer.should_stop
    now[0] = 1013.5  # 1.5 s left for a 1 s step + a 1 s validation
    cb.on_train_batch_start(trainer, None, None, 1)
    cb.on_train_batch_end(trainer, None, None, None, 1)
    assert trainer.should_stop and cb.stopped_early
    cb.on_train_end(trainer, None)
    assert cb.ended_at == 1013.5


def test_flip_decision_round_trips_through_auto_json():
    raw = decide_flips("val_acc", 0.9, 0.2, 0.1).to_json()
    assert raw["hflip"] is False and raw["line"].startswith("horizontal flips: off")
    assert FlipDecision(raw["hflip"]).overrides()["augment.hflip"] is False


def test_no_row_is_marked_best_when_no_network_finished():
    from visionfit.automl.auto import leaderboard

    state = {
        "stages": [
            {"kind": "baseline", "name": "baseline-rf", "status": "skipped"},
            {"kind": "pilot", "name": "flip-pilot", "status": "done"},
        ]
    }
    board = leaderboard(state)
    assert list(board["name"]) == ["baseline-rf"] and not board["best"].any()


def _train_stage_at_50(monkeypatch, tmp_path, choice, ended_at=None):
    """train_stage at time 50 with a fake training (auto's deadline 1000, a final reserve of
    20); returns the Deadline the training was given and the state."""
    from visionfit.automl import auto_stages

    seen = {}

    def fake_training(state, stage, *args):
        seen["deadline"] = deadline = args[-1]
        stage["run_dir"] = str(tmp_path)
        deadline.ended_at = ended_at
        return SimpleNamespace(val_score={"metric": "acc", "value": 0.9}, n_val=10)

    monkeypatch.setattr(auto_stages, "_new_training", fake_training)
    monkeypatch.setattr(auto_stages.time, "time", lambda: 50.0)
    clock = SimpleNamespace(deadline=1000.0, say=lambda msg: None)
    state = {"stages": [{"kind": "network", "name": "c", "status": "planned"}]}
    auto_stages.train_stage(
        state, state["stages"][0], None, None, None, None, choice, tmp_path, clock, lambda: 0, 20.0
    )
    return seen["deadline"], state


def test_a_training_is_told_to_stop_before_its_tail_and_the_final_reserve(monkeypatch, tmp_path):
    choice = SimpleNamespace(seconds=2000.0, whole=False, share_s=None)
    # training ended at 45; the run returns at 50
    told, state = _train_stage_at_50(monkeypatch, tmp_path, choice, ended_at=45.0)
    assert told.deadline == 1000.0 - 20.0  # the final reserve kept after it
    assert told.plan_end == 1000.0 - 20.0  # re-planned within it (its plan is longer)
    assert told.reserve_s == pytest.approx(1.0 + RUN_TAIL_S)  # its own tail, not yet measured
    assert state["stages"][0]["tail_s"] == 5.0 and state["stages"][0]["status"] == "done"
    assert run_tail_s(state, Candidate("c", {})) == pytest.approx(1.0 + 6.0)  # 1.2 x 5 s


@pytest.mark.parametrize(
    "whole, share_s, plan_end",
    [(False, 300.0, 50.0 + 300.0 + 1.0 + RUN_TAIL_S), (True, 300.0, None)],
)
def test_a_training_re_plans_its_epochs_within_its_share(
    monkeypatch, tmp_path, whole, share_s, plan_end
):
    """A run re-plans its epochs to end by its share plus its tail (the share `choose` gave
    it, not only its whole planned epochs); auto's first model (`whole`) trains what it planned."""
    choice = SimpleNamespace(seconds=250.0, whole=whole, share_s=share_s)
    told, _ = _train_stage_at_50(monkeypatch, tmp_path, choice)
    assert told.plan_end == (pytest.approx(plan_end) if plan_end else None)


class _SpentClock(_Clock):
    """A budget spent on start-up and measurements (a busy machine)."""

    budget_s, deadline = 60.0, 0.0

    def left(self):
        return 2.0


def _train_with_spent_budget(monkeypatch, stages: list) -> tuple[list, _SpentClock]:
    from visionfit.automl import auto

    trained = []

    def fake_train_stage(state, stage, *args):
        trained.append((stage, args[4]))  # the stage and its Choice
        stage.update(status="done", val=0.5, metric="val_acc")

    monkeypatch.setattr(auto, "train_stage", fake_train_stage)
    monkeypatch.setattr(auto, "make_ensemble", lambda *a: None)
    slow = Candidate("resnet18", {"model.name": "resnet18"}, timed=True)
    fast = Candidate("simple_cnn", {"model.name": "simple_cnn"}, timed=True)
    slow.step_s, fast.step_s, slow.steps_per_epoch, fast.steps_per_epoch = 0.5, 0.01, 10, 10
    df = pd.DataFrame({"split": ["train"] * 30 + ["val"] * 10})
    clock = _SpentClock()
    state = {"stages": stages, "notes": []}
    auto._train_while_time_left(state, None, RunConfig(), None, df, [slow, fast], None, clock,
                                lambda *a: None)  # fmt: skip
    return trained, clock


def test_a_spent_budget_still_trains_one_epoch_of_the_fastest_network(monkeypatch):
    trained, _ = _train_with_spent_budget(monkeypatch, [])
    assert len(trained) == 1
    stage, choice = trained[0]
    assert choice.candidate.name == "simple_cnn" and choice.epochs == 1 and choice.whole
    assert "so there is a model" in stage["why"]


def test_once_a_network_finished_a_spent_budget_trains_no_more(monkeypatch):
    done = {"kind": "network", "name": "simple_cnn", "status": "done", "val": 0.9}
    trained, clock = _train_with_spent_budget(monkeypatch, [done])
    assert trained == [] and "not enough for another training" in clock.lines[-1]


def test_a_whole_choice_has_no_deadline(monkeypatch):
    from visionfit.automl import auto_stages
    from visionfit.automl.auto_plan import Choice

    seen = {}

    def fake_new_training(*args):
        seen["deadline"] = args[-1]
        raise auto_stages.VisionfitError("stop here")

    monkeypatch.setattr(auto_stages, "_new_training", fake_new_training)
    cand = Candidate("simple_cnn", {"model.name": "simple_cnn"}, timed=True)
    state = {"stages": [], "candidates": [cand.to_json()], "budget_s": 60.0}
    stage = {"kind": "network", "name": "simple_cnn", "status": "planned"}
    choice = Choice(cand, 1, 5.0, "first model", whole=True)
    clock = _SpentClock()
    auto_stages.train_stage(state, stage, None, None, None, None, choice, None, clock,
                            lambda *a: None, 0.0)  # fmt: skip
    assert seen["deadline"].deadline == math.inf and stage["status"] == "failed"
