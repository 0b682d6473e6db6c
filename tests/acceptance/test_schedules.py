"""README "Schedules", "Fine-tuning policies" (heads, --frozen-bn) and "torchvision weights": the
shell examples as subprocesses on generated data (32-64 px, 1-4 epochs), and what their runs
write: the learning rates of metrics.csv, config.yaml, model.json, the weights loaded."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from safetensors.torch import load_file

# the README's sizes scaled down; every option it shows is kept
SMALL = ("--img-size", "32", "--batch-size", "8")


def _torchvision_file(folder, name: str, num_classes: int):
    """A randomly initialised torchvision model's state dict, saved as torchvision saves one
    (BatchNorm statistics moved off their init so that loading them shows)."""
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def sched_jobs(jobs, vf, ws, h, shapes, seg_data):
    """Queue this module's training commands (two at a time, beside the tests)."""
    cwd = ws / "schedules"
    tv = ws / "data" / "torchvision"
    resnet18 = _torchvision_file(tv, "resnet18", 1000)  # ImageNet-shaped head: skipped
    alexnet = _torchvision_file(tv, "alexnet", 3)  # the shapes' 3 classes: loaded too
    resnext = _torchvision_file(tv, "resnext50_32x4d", 1000)

    def job(key, *args):
        jobs.submit(key, lambda: vf("train", *args, cwd=cwd / key))

    job("sched-step", shapes, "--model", "simple_cnn", *SMALL, "--opt", "sgd", "--momentum",
        "0.9", "--no-nesterov", "--sched", "step", "--step-size", "1", "--gamma", "0.5",
        "--epochs", "3", "--lr", "0.01")  # fmt: skip
    job("sched-plateau", seg_data, "--task", "segment", *SMALL, "--width", "8", "--epochs", "4",
        "--sched", "plateau", "--plateau-factor", "0.5", "--plateau-patience", "0")  # fmt: skip
    job("sched-cosine", shapes, "--model", "simple_cnn", *SMALL, "--epochs", "2", "--sched",
        "cosine", "--min-lr", "1e-5", "--val-batch-size", "5")  # fmt: skip
    job("head-mlp", shapes, "--model", "resnet18", "--weights", resnet18, *SMALL, "--epochs", "1",
        "--head", "mlp", "--head-hidden", "512", "--head-dropout", "0.25,0.5", "--head-init",
        "xavier")  # fmt: skip
    job("frozen-bn", shapes, "--model", "resnet18", "--weights", resnet18, *SMALL, "--epochs",
        "1", "--freeze", "backbone", "--frozen-bn", "train", "--opt", "sgd", "--sched", "step",
        "--step-size", "7")  # fmt: skip
    job("tv-alexnet", shapes, "--model", "alexnet", "--weights", alexnet, "--img-size", "64",
        "--batch-size", "8", "--epochs", "1")  # fmt: skip
    job("tv-resnext", shapes, "--model", "resnext50_32x4d", "--weights", resnext, *SMALL,
        "--epochs", "1", "--backbone-lr-mult", "0.1")  # fmt: skip
    return jobs, {"resnet18": resnet18, "alexnet": alexnet}


def _config(run) -> dict:
    return yaml.safe_load((run / "config.yaml").read_text())


def _summary(run) -> dict:
    return json.loads((run / "summary.json").read_text())


def test_step_schedule_halves_the_rate_every_epoch(sched_jobs, h):
    """README: visionfit train DATA --opt sgd --momentum 0.9 --no-nesterov --sched step
    --step-size 1 --gamma 0.5 --epochs 3 --lr 0.01"""
    run = sched_jobs[0].get("sched-step").ok().run_dir()
    h.assert_run_dir(run)
    lrs = [float(r["lr"]) for r in h.read_csv(run / "metrics.csv")]
    assert lrs == pytest.approx([0.01, 0.005, 0.0025])
    train = _config(run)["train"]
    assert (train["opt"], train["momentum"], train["nesterov"]) == ("sgd", 0.9, False)
    assert (train["sched"], train["step_size"], train["gamma"]) == ("step", 1, 0.5)


def test_plateau_on_segmentation_watches_val_dice(sched_jobs, h):
    """README: visionfit train DATA --task segment --sched plateau --plateau-factor 0.5
    --plateau-patience 0"""
    run = sched_jobs[0].get("sched-plateau").ok().run_dir()
    train = _config(run)["train"]
    assert (train["monitor"], train["monitor_mode"]) == ("val_dice", "max")
    assert (train["plateau_factor"], train["plateau_patience"]) == (0.5, 0)
    rows = h.read_csv(run / "metrics.csv")
    lrs = [float(r["lr"]) for r in rows]

    def replay(metric: str, mode: str) -> list[float]:
        """torch's ReduceLROnPlateau fed the run's own per-epoch values of `metric`: the rate
        each epoch trains with when the schedule watches it."""
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lrs[0])
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode, factor=0.5, patience=0)
        out = []
        for r in rows:
            out.append(opt.param_groups[0]["lr"])
            sched.step(float(r[metric]))
        return out

    assert lrs == pytest.approx(replay("val_dice", "max"))
    if replay("val_loss", "min") != replay("val_dice", "max"):  # the run tells them apart
        assert lrs != pytest.approx(replay("val_loss", "min"))


def test_cosine_to_a_minimum_rate_and_a_validation_batch_size(sched_jobs, h):
    """README: visionfit train DATA --sched cosine --min-lr 1e-5 (and --val-batch-size)"""
    run = sched_jobs[0].get("sched-cosine").ok().run_dir()
    train = _config(run)["train"]
    assert (train["sched"], train["min_lr"], train["val_batch_size"]) == ("cosine", 1e-5, 5)
    lrs = [float(r["lr"]) for r in h.read_csv(run / "metrics.csv")]
    assert len(lrs) == 2 and 1e-5 < lrs[1] < lrs[0] <= 1e-3


def test_mlp_head_with_two_dropouts_on_torchvision_resnet18(sched_jobs, h):
    """README: visionfit train DATA --model resnet18 --weights resnet18.pth --head mlp
    --head-hidden 512 --head-dropout 0.25,0.5 --head-init xavier"""
    run = sched_jobs[0].get("head-mlp").ok().run_dir()
    h.assert_run_dir(run)
    finetune = _config(run)["finetune"]
    assert (finetune["head"], finetune["head_hidden"]) == ("mlp", 512)
    assert (finetune["head_dropout"], finetune["head_init"]) == ([0.25, 0.5], "xavier")
    model = json.loads((run / "model.json").read_text())
    assert (model["head"], model["head_dropout"], model["head_hidden"]) == ("mlp", [0.25, 0.5], 512)
    # torchvision's 1000-class fc is skipped (said so); the mlp head replaces it
    assert "skipped 2 tensors (head)" in _summary(run)["weights_source"]
    saved = load_file(str(run / "model.safetensors"))
    assert saved["fc.2.weight"].shape == (512, 512) and saved["fc.6.weight"].shape == (3, 512)


def test_frozen_backbone_with_batchnorm_in_train_mode(sched_jobs, h):
    """README: visionfit train DATA --model resnet18 --weights resnet18.pth --freeze backbone
    --frozen-bn train --opt sgd --sched step --step-size 7"""
    jobs, files = sched_jobs
    run = jobs.get("frozen-bn").ok().run_dir()
    assert _config(run)["finetune"]["frozen_bn"] == "train"
    start = torch.load(files["resnet18"], weights_only=True)
    after = load_file(str(run / "model.safetensors"))
    backbone = [k for k in start if not k.startswith("fc.")]
    stats = [k for k in backbone if k.endswith(("running_mean", "running_var"))]
    learned = [k for k in backbone if k.endswith(("weight", "bias"))]
    assert all(torch.equal(after[k], start[k]) for k in learned)  # frozen: not trained
    assert all(not torch.equal(after[k], start[k]) for k in stats)  # statistics updated


def test_torchvision_alexnet_loads_with_its_classifier(sched_jobs, h):
    """README: visionfit train DATA --model alexnet --weights alexnet.pth --img-size 224"""
    run = sched_jobs[0].get("tv-alexnet").ok().run_dir()
    source = _summary(run)["weights_source"]
    assert "(16 tensors)" in source and "skipped" not in source, source  # classifier.6 too


def test_torchvision_resnext_with_a_lower_backbone_rate(sched_jobs, h):
    """README: visionfit train DATA --model resnext50_32x4d --weights resnext50_32x4d.pth
    --backbone-lr-mult 0.1"""
    run = sched_jobs[0].get("tv-resnext").ok().run_dir()
    assert "skipped 2 tensors (head)" in _summary(run)["weights_source"]
    (row,) = h.read_csv(run / "metrics.csv")
    assert float(row["lr_backbone"]) == pytest.approx(float(row["lr_head"]) * 0.1)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--head-dropout", "0.3"), "--drop-rate"),  # a linear head has no dropout of its own
        (("--head", "mlp", "--head-dropout", "0.3,0.6,0.9"), "one or two dropouts"),
        (("--min-lr", "0.1", "--lr", "0.01"), "min_lr 0.1 is not below lr 0.01"),
        (("--opt", "sgd", "--momentum", "0"), "--no-nesterov"),
        (("--gamma", "2"), "gamma"),
    ],
)
def test_schedule_and_head_options_refused_in_one_line(vf, ws, h, shapes, args, said):
    res = vf("train", shapes, *h.TINY, *args, cwd=ws / "schedules" / "refused")
    assert said in h.one_line_error(res)
    assert not (ws / "schedules" / "refused" / "runs").exists()
