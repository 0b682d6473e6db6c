"""examples/ (the gallery of tutorial recipes): every example's own `# command:` line, run as the
installed `visionfit` on generated data laid out as its tutorial lays it out, at toy scale (32 px,
few images, 1-8 epochs; pretrained weights replaced by random ones: no network). What each
recipe promises is checked in the run it writes: the layout read as the tutorial means it, the
learning rates in metrics.csv following the tutorial's schedule, the head, the splits."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from visionfit.data.synthetic import draw_shape, make_segmentation_dataset, make_shapes_dataset

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))
# every example at toy scale: the flags below override the example's config (typed options win)
TOY = ("--img-size", "32", "--batch-size", "8")
NO_WEIGHTS = ("--no-pretrained",)


def commands(name: str) -> list[list[str]]:
    """The example's `# command:` and `# then:` lines, as argument lists without `visionfit`."""
    text = (EXAMPLES / f"{name}.yaml").read_text()
    found = re.findall(r"^# (?:command|then):\s+visionfit (.+)$", text, re.M)
    assert found, f"{name}.yaml has no '# command: visionfit ...' line"
    return [shlex.split(line) for line in found]


def replace(args: list[str], **values: str) -> list[str]:
    return [values.get(a, a) for a in args]


@pytest.fixture(scope="module")
def gallery(ws) -> Path:
    """The module's folder: data here, one working folder per command (`at`)."""
    return ws / "gallery"


def at(gallery: Path, name: str) -> Path:
    """A working folder holding examples/ (the commands name examples/...), as the repo root."""
    cwd = gallery / name
    cwd.mkdir(parents=True, exist_ok=True)
    if not (cwd / "examples").exists():
        shutil.copytree(EXAMPLES, cwd / "examples")
    return cwd


def lrs(run: Path, column: str = "lr") -> list[float]:
    import csv

    with open(run / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get(column) not in (None, "")]
    return [float(r[column]) for r in rows]


def test_every_example_has_a_command_and_a_valid_config():
    """Each example is one config file with one command; the config is valid as written."""
    from visionfit.config import BaselineConfig, RunConfig

    assert len(NAMES) >= 9, NAMES
    for name in NAMES:
        (cmd, *_) = commands(name)
        raw = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
        kind = BaselineConfig if cmd[0] == "baseline" else RunConfig
        kind.from_dict(raw, origin=f"{name}.yaml")
        assert f"examples/{name}.yaml" in cmd, cmd
    listed = (EXAMPLES / "README.md").read_text()
    assert all(f"{n}.yaml" in listed for n in NAMES)


def test_pixel_random_forest(vf, gallery, h):
    data = make_shapes_dataset(gallery / "pneumo", 12, classes=("circle", "square"), seed=3)
    (cmd,) = commands("pixel_random_forest")
    res = vf(*replace(cmd, DATA=str(data)), "--size", "16", "--folds", "2", "--jobs", "1",
             cwd=at(gallery, "rf")).ok()  # fmt: skip
    run = res.run_dir("baseline-rf-*")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["kind"] == "cv" or "cv_mean" in summary, summary
    assert len(h.read_csv(run / "folds.csv")) == 24


@pytest.mark.parametrize("name", ["alexnet_scratch", "alexnet_pretrained"])
def test_alexnet(vf, gallery, h, name):
    import torch
    import torchvision

    data = gallery / "two-classes"
    if not data.exists():
        make_shapes_dataset(data, 10, classes=("circle", "square"), seed=4)
    weights = gallery / "alexnet.pth"
    if not weights.exists():
        torch.save(torchvision.models.alexnet(num_classes=2).state_dict(), weights)
    (cmd,) = commands(name)
    args = replace(cmd, DATA=str(data), **{"alexnet.pth": str(weights)})
    run = vf(*args, "--img-size", "64", "--epochs", "1", "--batch-size", "8",
             cwd=at(gallery, name)).ok().run_dir()  # fmt: skip
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["model"]["name"] == "alexnet"
    assert cfg["augment"]["resize"] == "squash"
    h.assert_run_dir(run)


def test_resnet18_bn_dropout_head_halves_lr_every_3_epochs(vf, gallery, h):
    data = make_shapes_dataset(gallery / "r18", 8, classes=("circle", "square"), seed=5)
    (cmd,) = commands("resnet18_bn_dropout_head")
    run = vf(*replace(cmd, DATA=str(data)), *TOY, *NO_WEIGHTS, "--epochs", "7",
             cwd=at(gallery, "r18run")).ok().run_dir()  # fmt: skip
    got = lrs(run)
    want = [5e-4, 5e-4, 5e-4, 2.5e-4, 2.5e-4, 2.5e-4, 1.25e-4]
    assert got == pytest.approx(want, rel=1e-6), got
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["finetune"]["head"] == "mlp" and cfg["finetune"]["head_hidden"] == 2048
    assert cfg["finetune"]["head_dropout"] == [0.25, 0.5]


def test_unet_rle_amp_plateau(vf, gallery, h):
    csv_path = make_segmentation_dataset(gallery / "siim", 16, size=32, layout="rle", seed=6)
    (cmd,) = commands("unet_rle_amp_plateau")
    images = str(csv_path.parent / "images")
    args = replace(cmd, **{"train-rle.csv": str(csv_path), "images/": images})
    run = vf(*args, *TOY, "--epochs", "2", "--precision", "bf16-mixed",
             cwd=at(gallery, "unet")).ok().run_dir()  # fmt: skip
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["train"]["sched"] == "plateau"
    assert cfg["segment"]["arch"] == "unet" and cfg["segment"]["encoder"] == "resnet18"
    assert (run / "model.safetensors").is_file()


def test_timm_albumentations_5fold_then_predict_the_test_folder(vf, gallery, h):
    data = make_shapes_dataset(gallery / "leaves", 8, seed=7)
    test = make_shapes_dataset(gallery / "leaves-test", 2, seed=8)
    first, then = commands("timm_albumentations_5fold")
    cwd = at(gallery, "leaves-run")
    res = vf(*replace(first, DATA=str(data)), *TOY, *NO_WEIGHTS, "--epochs", "2", "--folds", "2",
             cwd=cwd).ok()  # fmt: skip
    run = res.run_dir("resnet18-cv-*")
    assert (run / "oof.csv").is_file() and (run / "fold_1").is_dir()
    for k in (0, 1):  # cosine without warm-up from 1e-4 down to eta_min 1e-5 over 2 epochs
        got = lrs(run / f"fold_{k}")
        assert got[0] > got[-1] >= 1e-5 - 1e-12, got
    written = (run / "augment.yaml").read_text()
    assert "CoarseDropout" in written and "RandomGamma" in written
    args = replace(then, **{"runs/<run>": str(run), "test/": str(test)})
    vf(*args, cwd=cwd).ok()
    rows = h.read_csv(cwd / "submission.csv")
    assert len(rows) == 6 and all(r["pred"] in ("circle", "square", "triangle") for r in rows)


def test_frozen_resnet_sgd_steplr7_on_hymenoptera_layout(vf, gallery, h):
    data = gallery / "hymenoptera_data"
    for split, n, seed in (("train", 6, 9), ("val", 3, 10)):
        make_shapes_dataset(data / split, n, classes=("ants", "bees"), seed=seed)
    (cmd,) = commands("frozen_resnet_sgd_steplr7")
    run = vf(*replace(cmd, hymenoptera_data=str(data)), *TOY, *NO_WEIGHTS, "--epochs", "8",
             cwd=at(gallery, "ants")).ok().run_dir()  # fmt: skip
    got = lrs(run, "lr_head") or lrs(run)
    assert got == pytest.approx([1e-3] * 7 + [1e-4], rel=1e-6), got
    splits = h.read_csv(run / "splits.csv")
    assert sum(r["split"] == "val" for r in splits) == 6  # DATA/val used as given
    assert (
        json.loads((run / "classes.json").read_text())
        in (
            ["ants", "bees"],
            {"classes": ["ants", "bees"]},
        )
        or "ants" in (run / "classes.json").read_text()
    )


def test_resnext_finetune_70_20_10(vf, gallery, h):
    data = make_shapes_dataset(gallery / "rx", 10, classes=("circle", "square"), seed=11)
    (cmd,) = commands("resnext_finetune_70_20_10")
    run = vf(*replace(cmd, DATA=str(data)), *TOY, *NO_WEIGHTS, "--epochs", "1",
             cwd=at(gallery, "rxrun")).ok().run_dir()  # fmt: skip
    splits = h.read_csv(run / "splits.csv")
    counts = {s: sum(r["split"] == s for r in splits) for s in ("train", "val", "test")}
    assert counts == {"train": 14, "val": 4, "test": 2}, counts
    head, backbone = lrs(run, "lr_head"), lrs(run, "lr_backbone")
    assert head and backbone and head[0] == pytest.approx(10 * backbone[0], rel=1e-6)


def test_frozen_resnet_sigmoid_cats_vs_dogs_from_file_names(vf, gallery, h):
    import numpy as np

    data = gallery / "dogs-vs-cats" / "train"
    data.mkdir(parents=True)
    rng = np.random.default_rng(12)
    for label, shape in (("cat", "circle"), ("dog", "square")):
        for i in range(10):
            draw_shape(shape, 32, rng).save(data / f"{label}.{i}.png")
    (cmd,) = commands("frozen_resnet_sigmoid_catsdogs")
    run = vf(*replace(cmd, **{"train/": str(data)}), *TOY, *NO_WEIGHTS, "--epochs", "2",
             cwd=at(gallery, "cats")).ok().run_dir()  # fmt: skip
    text = (run / "classes.json").read_text()
    assert "cat" in text and "dog" in text
    splits = h.read_csv(run / "splits.csv")
    assert len(splits) == 20
