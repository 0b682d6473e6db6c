"""What `visionfit auto` decides about its inputs (automl/auto_inputs.py) and how its plan
spends the budget of a first run (automl/auto_plan.py)."""

from __future__ import annotations

from visionfit.automl.auto_inputs import (
    batch_for_size,
    input_overrides,
    split_overrides,
    was_typed,
)
from visionfit.automl.auto_plan import Candidate, choose, epochs_scale_factor
from visionfit.config import RunConfig


def test_large_data_validates_on_5000_images_unless_a_fraction_was_typed():
    cfg = RunConfig()
    assert split_overrides(cfg, 70_000, set()) == {"data.val_fraction": round(5000 / 70_000, 4)}
    assert split_overrides(cfg, 500_000, set()) == {"data.val_fraction": 0.05}
    assert split_overrides(cfg, 10_000, set()) == {}  # small data keeps 20 %
    assert split_overrides(cfg, 70_000, {"data.val_fraction"}) == {}
    typed_cfg = cfg.with_overrides({"data.val_fraction": 0.3})
    assert split_overrides(typed_cfg, 70_000, None) == {}  # the Python API: differs = typed


def test_grayscale_images_train_on_one_channel_unless_in_chans_was_typed():
    cfg = RunConfig()
    assert input_overrides(cfg, {"L": 900, "I;16": 3}, set()) == {"data.in_chans": 1}
    assert input_overrides(cfg, {"L": 900, "RGB": 1}, set()) == {}
    assert input_overrides(cfg, {"L": 900}, {"data.in_chans"}) == {}
    assert input_overrides(cfg, {}, set()) == {}


def test_typed_means_given_on_the_command_line_or_changed_from_the_default():
    cfg = RunConfig().with_overrides({"train.batch_size": 64})
    assert was_typed("train.batch_size", None, cfg, RunConfig())
    assert not was_typed("train.batch_size", set(), cfg, RunConfig())
    assert was_typed("train.batch_size", {"train.batch_size"}, RunConfig(), RunConfig())


def test_small_images_train_in_larger_batches():
    assert [batch_for_size(s) for s in (28, 32, 48, 64, 128)] == [128, 128, 64, 64, 32]


def test_larger_data_needs_fewer_epochs_but_slowly():
    assert epochs_scale_factor(1000) == 1.0 and epochs_scale_factor(5000) == 1.0
    assert 0.45 < epochs_scale_factor(55_000) < 0.5
    assert epochs_scale_factor(500_000) < epochs_scale_factor(55_000)


def _timed(epoch_s: float, scale: float, setup_s: float = 0.0) -> Candidate:
    return Candidate(
        "net", {}, 1.0, scale, step_s=epoch_s / 10, steps_per_epoch=10, setup_s=setup_s, timed=True
    )


def test_a_first_run_takes_the_whole_time_when_the_rest_could_not_hold_another():
    # saturated in 60 % of the time, but a run's fixed costs (setup) leave no epoch in 40 %
    net = _timed(epoch_s=1.0, scale=1.0, setup_s=20.0)
    assert net.epochs_for(40.0) < 1 <= net.epochs_for(60.0)
    whole = choose([net], 100.0, leave_for_more=True)
    assert whole.epochs == net.epochs_for(100.0)
    # with time for a whole second run, the first keeps 60 %
    fast = _timed(epoch_s=1.0, scale=4.0)
    part = choose([fast], 200.0, leave_for_more=True)
    assert part.epochs == fast.epochs_for(120.0)


def test_a_cache_of_another_size_is_not_handed_to_a_loader():
    from types import SimpleNamespace

    from visionfit.engine.trainer import _cache_key, kept_cache

    cfg28 = RunConfig().with_overrides({"augment.img_size": 28})
    cfg64 = RunConfig().with_overrides({"augment.img_size": 64})
    data = SimpleNamespace(extra={"decoded_cache": (_cache_key(cfg28), "the 28 px cache")})
    assert kept_cache(cfg28, data) == "the 28 px cache"
    assert kept_cache(cfg64, data) is None
    assert kept_cache(cfg28, SimpleNamespace(extra={})) is None
