"""Recipes resolve into config.yaml; the EMA and mixup paths train; the EMA survives a kill."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import visionfit
from visionfit.config import RunConfig
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.engine import recipes
from visionfit.engine.recipes import Recipe, get_recipe, register_recipe, resolve_recipe
from visionfit.errors import VisionfitError
from visionfit.tasks.classification import mixup


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_shapes_dataset(tmp_path_factory.mktemp("rec") / "d", n_per_class=30, size=24)


def config(data: Path, runs: Path, **train) -> RunConfig:
    return RunConfig.from_dict(
        {
            "runs_dir": str(runs),
            "data": {"path": str(data), "workers": 0},
            "augment": {"img_size": 24},
            "train": {"epochs": 10, "batch_size": 16, "patience": None, **train},
        }
    )


def test_the_registry_refuses_duplicates_and_names_the_choices():
    assert {r.name for r in recipes.list_recipes("scratch")} == {"fast", "default", "best"}
    with pytest.raises(VisionfitError, match="already registered"):
        register_recipe(Recipe("fast", "scratch", {}))
    with pytest.raises(VisionfitError, match="choose from best, default, fast"):
        get_recipe("turbo", "scratch")
    with pytest.raises(VisionfitError, match="unknown config key"):
        register_recipe(Recipe("odd", "scratch", {"train.nope": 1}))


def test_a_recipe_fills_defaults_and_keeps_what_was_given():
    given = RunConfig.from_dict(
        {"train": {"recipe": "best", "lr": 0.02}, "augment": {"preset": "heavy"}}
    )
    cfg, notes = resolve_recipe(given, "scratch", n_train=100)
    t = cfg.train
    assert (t.opt, t.sched, t.ema, t.tta, t.label_smoothing) == (
        "adamw",
        "cosine",
        True,
        "hflip",
        0.1,
    )
    assert cfg.augment.preset == "heavy" and t.lr == 0.02 and not t.lr_find  # given: kept
    assert t.mixup == 0.0 and any("mixup/cutmix off" in n for n in notes)  # tiny data
    big, _ = resolve_recipe(RunConfig.from_dict({"train": {"recipe": "best"}}), "scratch", 5000)
    assert (big.train.mixup, big.train.cutmix, big.train.lr_find) == (0.2, 1.0, True)
    assert big.augment.preset == "trivial"
    assert resolve_recipe(big, "scratch", 5000)[0] == big  # resolving again changes nothing
    seg, _ = resolve_recipe(RunConfig.from_dict({"train": {"recipe": "fast"}}), "segmentation", 10)
    assert seg.train.sched == "onecycle" and not seg.train.ema


def test_recipe_best_is_written_out_in_config_yaml_and_predicts_with_its_tta(data, tmp_path):
    result = visionfit.fit(config(data, tmp_path, recipe="best", epochs=4), progress=False)
    written = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    t = written["train"]
    assert t["recipe"] == "best" and t["ema"] and t["tta"] == "hflip" and t["sched"] == "cosine"
    assert written["augment"]["preset"] == "trivial" and t["label_smoothing"] == 0.1
    assert t["lr_find"] is False  # done: the found rate is the one written
    assert any("LR range test" in n for n in result.notes)
    meta = json.loads((result.run_dir / "model.json").read_text())
    assert meta["tta"] == "hflip" and meta["ema"]["decay"] == t["ema_decay"]
    p = visionfit.load(result.run_dir)
    img = next(data.rglob("*.png"))
    assert torch.allclose(
        torch.as_tensor(p.predict_proba([img])[0]),
        torch.as_tensor(p.predict_proba([img], tta="hflip")[0]),
    )


def test_ema_and_mixup_paths_train_above_chance(data, tmp_path, monkeypatch):
    mixed = []
    original = mixup.mix_batch

    def spy(mixer, x, y):
        out = original(mixer, x, y)
        mixed.append(out[1] is not None)
        return out

    monkeypatch.setattr("visionfit.tasks.classification.module.mix_batch", spy)
    mix = visionfit.fit(config(data, tmp_path, mixup=0.4, cutmix=1.0, lr=3e-3), progress=False)
    assert sum(mixed) > 10  # batches really were mixed
    assert mix.best_metrics["val_acc"] > 0.6  # three classes: chance is 1/3

    ema = visionfit.fit(config(data, tmp_path, ema=True, ema_decay=0.99, lr=3e-3), progress=False)
    info = json.loads((ema.run_dir / "model.json").read_text())["ema"]
    assert isinstance(info["used"], bool) and info["ema_val_loss"] > 0
    assert ema.best_metrics["val_acc"] > 0.6
    if info["used"]:  # the bundle holds the EMA weights and its metrics are the EMA's
        assert ema.best_metrics["val_loss"] == pytest.approx(info["ema_val_loss"])


def _ema_weights(run_dir: Path) -> str:
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    weights = ckpt["callbacks"]["WeightEMA"]["weights"]
    return hashlib.sha256(b"".join(v.numpy().tobytes() for v in weights.values())).hexdigest()


def test_the_ema_is_in_checkpoints_and_resumes_exactly(tmp_path):
    small = make_shapes_dataset(tmp_path / "d", n_per_class=12, size=16)
    cfg = RunConfig.from_dict(
        {
            "runs_dir": str(tmp_path / "runs"),
            "data": {"path": str(small), "workers": 0},
            "augment": {"img_size": 16},
            "train": {"epochs": 3, "batch_size": 8, "ema": True, "deterministic": True, "seed": 3},
        }
    )
    reference = visionfit.fit(
        cfg.with_overrides({"runs_dir": str(tmp_path / "ref")}), progress=False
    )
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(cfg.to_yaml())
    # the same torch threads as this process: float sums differ between thread counts
    env = {**os.environ, "VISIONFIT_TEST_KILL": "batch:5"}
    killed = subprocess.run(
        [sys.executable, "-m", "visionfit.cli", "train", "--config", str(cfg_file)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -9
    run_dir = next((tmp_path / "runs").iterdir())
    from visionfit.engine.resume import resume

    resumed = resume(run_dir, progress=False)
    assert "resumed_from" in json.loads((resumed.run_dir / "summary.json").read_text())
    assert _ema_weights(run_dir) == _ema_weights(reference.run_dir)
