"""The optimizer and schedule built from the train config (tasks/optim.py): step size and gamma,
plateau watching the run's monitor in its direction, cosine / onecycle ending at min_lr, SGD
momentum and Nesterov; and the config's refusals of values no schedule can use."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from visionfit.config import RunConfig, TrainConfig
from visionfit.errors import VisionfitError
from visionfit.tasks.optim import configure_optimization, plateau_monitor


def _params():
    return list(nn.Linear(4, 2).parameters())


def _build(total=100, params=None, **train):
    return configure_optimization(params or _params(), TrainConfig(**train), total)


def _lrs(opt, sched, steps: int, group: int = 0) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[group]["lr"])
        opt.step()
        sched.step()
    return out


def test_step_schedule_uses_step_size_and_gamma():
    built = _build(sched="step", step_size=3, gamma=0.5, epochs=10, lr=0.01)
    sched = built["lr_scheduler"]["scheduler"]
    assert isinstance(sched, torch.optim.lr_scheduler.StepLR)
    assert (sched.step_size, sched.gamma) == (3, 0.5)
    assert built["lr_scheduler"]["interval"] == "epoch"
    lrs = _lrs(built["optimizer"], sched, 7)
    assert lrs == pytest.approx([0.01] * 3 + [0.005] * 3 + [0.0025])


def test_step_schedule_default_is_a_third_of_the_run_times_a_tenth():
    sched = _build(sched="step", epochs=9)["lr_scheduler"]["scheduler"]
    assert (sched.step_size, sched.gamma) == (3, 0.1)
    sched = _build(sched="step", epochs=2)["lr_scheduler"]["scheduler"]
    assert sched.step_size == 1


@pytest.mark.parametrize(
    ("monitor", "mode", "watched"),
    [
        ("val_dice", "max", ("val_dice", "max")),  # segmentation's resolved monitor
        ("val_loss", "min", ("val_loss", "min")),
        ("val_macro_f1", "auto", ("val_macro_f1", "max")),
        ("auto", "auto", ("val_loss", "min")),  # not resolved yet: the run's default
    ],
)
def test_plateau_watches_the_runs_monitor(monitor, mode, watched):
    built = _build(
        sched="plateau",
        plateau_factor=0.5,
        plateau_patience=4,
        min_lr=1e-5,
        monitor=monitor,
        monitor_mode=mode,
    )
    sched = built["lr_scheduler"]["scheduler"]
    assert isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert built["lr_scheduler"]["monitor"] == watched[0]
    assert (sched.mode, sched.factor, sched.patience) == (watched[1], 0.5, 4)
    assert sched.min_lrs == [1e-5]
    assert plateau_monitor(TrainConfig(monitor=monitor, monitor_mode=mode)) == watched


def test_plateau_on_a_maximised_metric_drops_when_it_stops_rising():
    built = _build(
        sched="plateau", plateau_factor=0.5, plateau_patience=0, monitor="val_dice",
        monitor_mode="max", lr=0.01,
    )  # fmt: skip
    opt, sched = built["optimizer"], built["lr_scheduler"]["scheduler"]
    seen = []
    for dice in (0.1, 0.2, 0.3, 0.3, 0.25):  # rising: kept; flat, then falling: halved each
        sched.step(dice)
        seen.append(opt.param_groups[0]["lr"])
    assert seen == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.0025])


def test_cosine_ends_at_min_lr_for_every_group():
    groups = [
        {"params": [nn.Parameter(torch.zeros(1))], "lr": 0.01, "name": "head"},
        {"params": [nn.Parameter(torch.zeros(1))], "lr": 0.001, "name": "backbone"},
    ]
    built = configure_optimization(
        groups, TrainConfig(sched="cosine", lr=0.01, min_lr=1e-4, warmup_epochs=0, epochs=5), 50
    )
    opt, sched = built["optimizer"], built["lr_scheduler"]["scheduler"]
    assert built["lr_scheduler"]["interval"] == "step"
    head = _lrs(opt, sched, 51)
    assert head[0] == pytest.approx(0.01)
    assert head[25] == pytest.approx(1e-4 + (0.01 - 1e-4) / 2)  # halfway: the midpoint
    assert head[-1] == pytest.approx(1e-4)
    assert min(head) == pytest.approx(1e-4)
    assert opt.param_groups[1]["lr"] == pytest.approx(1e-4)  # the backbone ends there too


def test_cosine_without_min_lr_anneals_to_zero():
    built = _build(total=20, sched="cosine", lr=0.01, warmup_epochs=0, epochs=2)
    lrs = _lrs(built["optimizer"], built["lr_scheduler"]["scheduler"], 21)
    assert lrs[-1] == pytest.approx(0.0, abs=1e-12)


def test_onecycle_ends_at_min_lr():
    built = _build(total=40, sched="onecycle", lr=0.01, min_lr=2e-5)
    opt, sched = built["optimizer"], built["lr_scheduler"]["scheduler"]
    lrs = _lrs(opt, sched, 40)
    assert max(lrs) == pytest.approx(0.01, rel=0.05)
    assert lrs[-1] == pytest.approx(2e-5)


@pytest.mark.parametrize("total", range(1, 13))
def test_onecycle_steps_through_any_short_run(total):
    """a budget-cut run of a few steps: OneCycleLR divided by zero at 4 (its warm-up ended on
    step 0); every step of the run, and Lightning's last step call, gives a finite rate"""
    built = _build(total=total, sched="onecycle", lr=0.01)
    lrs = _lrs(built["optimizer"], built["lr_scheduler"]["scheduler"], max(total, 2))
    assert all(0 < lr <= 0.01 * 1.0001 for lr in lrs)


@pytest.mark.parametrize("opt", ["adamw", "adam", "sgd"])
def test_cpu_parameters_get_the_fused_step_and_the_same_update(opt):
    """the fused kernel is the same update as torch's tensor-by-tensor default, in one kernel"""
    torch.manual_seed(0)
    net, twin = nn.Linear(8, 3), nn.Linear(8, 3)
    twin.load_state_dict(net.state_dict())
    cfg = TrainConfig(opt=opt, sched="none", lr=0.05, weight_decay=0.01)
    fused = configure_optimization(list(net.parameters()), cfg)
    assert fused.defaults["fused"] is True
    kept = {k: v for k, v in fused.defaults.items() if k != "decoupled_weight_decay"}
    plain = type(fused)(twin.parameters(), **{**kept, "fused": None})
    x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
    for model, step in ((net, fused), (twin, plain)):
        for _ in range(5):
            step.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            step.step()
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(net.weight, nn.Linear(8, 3).weight)  # it did train


def test_parameters_the_fused_kernel_cannot_step_keep_the_default():
    meta = [nn.Parameter(torch.empty(3, device="meta"))]
    assert configure_optimization(meta, TrainConfig(sched="none")).defaults["fused"] is None
    groups = [{"params": [nn.Parameter(torch.zeros(2))], "lr": 0.1}, {"params": meta}]
    assert configure_optimization(groups, TrainConfig(sched="none")).defaults["fused"] is None


@pytest.mark.parametrize(("momentum", "nesterov"), [(0.9, True), (0.9, False), (0.5, False)])
def test_sgd_momentum_and_nesterov(momentum, nesterov):
    opt = _build(opt="sgd", sched="none", momentum=momentum, nesterov=nesterov)
    assert isinstance(opt, torch.optim.SGD)
    assert opt.defaults["momentum"] == momentum and opt.defaults["nesterov"] is nesterov


def test_sgd_default_is_nesterov_at_momentum_0_9():
    opt = _build(opt="sgd", sched="none")
    assert (opt.defaults["momentum"], opt.defaults["nesterov"]) == (0.9, True)
    plain = _build(opt="sgd", sched="none", momentum=0.0, nesterov=False)
    assert (plain.defaults["momentum"], plain.defaults["nesterov"]) == (0.0, False)


@pytest.mark.parametrize(
    ("train", "match"),
    [
        ({"min_lr": 0.01, "lr": 0.001}, "min_lr 0.01 is not below lr"),
        ({"opt": "sgd", "momentum": 0.0}, "Nesterov momentum needs momentum > 0"),
        ({"momentum": 1.0}, "momentum"),
        ({"gamma": 0.0}, "gamma"),
        ({"gamma": 1.5}, "gamma"),
        ({"plateau_factor": 1.0}, "plateau_factor"),
        ({"plateau_patience": -1}, "plateau_patience"),
        ({"step_size": 0}, "step_size"),
        ({"val_batch_size": 0}, "val_batch_size"),
        ({"min_lr": -1e-5}, "min_lr"),
    ],
)
def test_config_refuses_values_no_schedule_can_use(train, match):
    with pytest.raises(VisionfitError, match=match):
        RunConfig.from_dict({"train": train})


def test_val_batch_size_defaults_to_the_batch_size():
    assert TrainConfig(batch_size=16).eval_batch_size == 16
    assert TrainConfig(batch_size=16, val_batch_size=64).eval_batch_size == 64


def test_plateau_is_not_strict_so_a_run_without_validation_keeps_its_rate():
    built = _build(sched="plateau", monitor="val_dice", monitor_mode="max")
    assert built["lr_scheduler"]["strict"] is False


def test_a_cv_refit_with_plateau_trains_at_a_constant_rate(tmp_path, fast_config):
    import pandas as pd

    import visionfit
    from visionfit.data.synthetic import make_shapes_dataset

    data = make_shapes_dataset(tmp_path / "data", n_per_class=8, seed=3)
    cfg = fast_config(data, tmp_path / "runs", epochs=2, sched="plateau", batch_size=8)
    cfg = cfg.with_overrides({"cv.folds": 2, "cv.refit": True, "train.plateau_patience": 0})
    result = visionfit.cross_validate(cfg, progress=False)
    refit = pd.read_csv(result.run_dir / "refit" / "metrics.csv")
    assert len(refit) >= 1 and refit["lr"].tolist() == pytest.approx([cfg.train.lr] * len(refit))


@pytest.mark.parametrize("sched", ["onecycle", "cosine"])
@pytest.mark.parametrize("stretched_at, total", [(10, 200), (30, 60), (5, 12)])
def test_a_stretched_schedule_follows_the_schedule_of_its_new_length(sched, stretched_at, total):
    """`stretch_schedule` at step k to M steps: from step k+1 on, the rates of a schedule built
    for M steps from the start (auto's re-plan, lengthening or shortening a run)."""
    from visionfit.tasks.optim import schedule_length, stretch_schedule

    train = {"sched": sched, "epochs": 10, "lr": 0.01, "min_lr": 1e-5, "warmup_epochs": 0.0}
    built = _build(100, **train)
    opt, s = built["optimizer"], built["lr_scheduler"]["scheduler"]
    _lrs(opt, s, stretched_at)
    assert stretch_schedule(s, total) and schedule_length(s) == total
    after = _lrs(opt, s, total - stretched_at)

    fresh = _build(total, **train)
    expected = _lrs(fresh["optimizer"], fresh["lr_scheduler"]["scheduler"], total)
    assert after[1:] == pytest.approx(expected[stretched_at + 1 :], rel=1e-6)
    assert after[-1] < 0.01 / 20  # it anneals to its end


def test_a_stretched_cosine_schedule_keeps_its_length_in_a_checkpoint():
    from visionfit.tasks.optim import schedule_length, stretch_schedule

    built = _build(100, sched="cosine", epochs=10, lr=0.01)
    stretch_schedule(built["lr_scheduler"]["scheduler"], 170)
    state = built["lr_scheduler"]["scheduler"].state_dict()
    again = _build(100, sched="cosine", epochs=10, lr=0.01)["lr_scheduler"]["scheduler"]
    again.load_state_dict(state)
    assert schedule_length(again) == 170


def test_schedules_without_a_length_are_not_stretched():
    from visionfit.tasks.optim import stretch_schedule

    for sched in ("step", "plateau"):
        built = _build(100, sched=sched, epochs=10, lr=0.01)
        assert not stretch_schedule(built["lr_scheduler"]["scheduler"], 170)
