"""Optuna search: the space, resuming, several processes on one SQLite study, best.yaml."""

from __future__ import annotations

import os
import subprocess
import sys

import optuna
import pandas as pd
import pytest
import yaml

from visionfit.automl.tune import TuneOptions, load_space, tune
from visionfit.config import RunConfig
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.errors import VisionfitError


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("tune") / "data", n_per_class=16, seed=3)


def test_space_aliases_yaml_numbers_and_errors(tmp_path):
    base = RunConfig()
    path = tmp_path / "space.yaml"
    path.write_text(
        "lr: {low: 1e-4, high: 1e-2, log: true}\n"  # YAML 1.1 reads 1e-4 as a string
        "model: [simple_cnn, resnet10t]\n"
        "img_size: [32, 48]\n"
        "epochs: {low: 2, high: 5}\n"
        "train.opt: [adamw, sgd]\n"
    )
    params = {p.key: p for p in load_space(path, base)}
    assert set(params) == {
        "train.lr",
        "model.name",
        "augment.img_size",
        "train.epochs",
        "train.opt",
    }
    assert params["train.lr"].kind == "float" and params["train.lr"].log
    assert params["train.lr"].low == pytest.approx(1e-4)
    assert params["train.epochs"].kind == "int"
    assert params["model.name"].choices == ["simple_cnn", "resnet10t"]
    default = {p.key for p in load_space(None, base)}
    assert default == {"train.lr", "train.weight_decay", "augment.preset", "train.batch_size"}

    with pytest.raises(VisionfitError, match="unknown config key 'train.nope'"):
        load_space({"train.nope": [1, 2]}, base)
    with pytest.raises(VisionfitError, match="low < high"):
        load_space({"lr": {"low": 0.1, "high": 0.01}}, base)
    with pytest.raises(VisionfitError, match="augment.preset"):
        load_space({"augment": ["light", "extreme"]}, base)
    with pytest.raises(VisionfitError, match="list of choices or a mapping"):
        load_space({"lr": 0.1}, base)


def test_tune_in_process_with_folds_resumes_and_checks_the_monitor(small_data, tmp_path):
    base = RunConfig.from_dict(
        {
            "runs_dir": str(tmp_path / "runs"),
            "data": {"path": str(small_data), "workers": 0},
            "augment": {"img_size": 32},
            "train": {"epochs": 2, "batch_size": 16, "patience": None},
        }
    )
    storage = f"sqlite:///{tmp_path / 'cv.db'}"
    space = {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "augment": ["none", "light"]}
    opts = TuneOptions(trials=1, storage=storage, study="cv", space=space, folds=2)
    seen = []
    res = tune(base, opts, on_trial=seen.append)
    assert res.counts == {"complete": 1} and res.ran_here == 1
    assert res.monitor == "val_loss" and res.direction == "minimize"
    assert set(res.best_params) == {"train.lr", "augment.preset"}
    cv = pd.read_csv(os.path.join(res.best_run_dir, "cv.csv"))
    assert list(cv["fold"]) == [0, 1]
    assert res.best_value == pytest.approx(cv["val_loss"].mean())
    assert seen and seen[0]["number"] == 0 and seen[0]["state"] == "complete"

    # the same call again finds the study complete and runs nothing
    again = tune(base, opts)
    assert again.ran_here == 0 and again.counts == {"complete": 1}
    # another objective on the same study is refused, not mixed in
    with pytest.raises(VisionfitError, match="optimises val_loss"):
        tune(base.with_overrides({"train.monitor": "val_acc"}), opts)
    with pytest.raises(VisionfitError, match="--folds 2, not 3"):
        tune(base, TuneOptions(trials=2, storage=storage, study="cv", space=space, folds=3))


def _tune(data, runs, storage, trials):
    cmd = [
        sys.executable,
        "-m",
        "visionfit.cli",
        "tune",
        str(data),
        "--trials",
        str(trials),
        "--storage",
        storage,
        "--study",
        "shared",
        "--epochs",
        "2",
        "--img-size",
        "32",
        "--workers",
        "0",
        "--runs-dir",
        str(runs),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "200"}
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def test_two_processes_share_one_sqlite_study_and_a_rerun_adds_trials(small_data, tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    runs = tmp_path / "runs"
    workers = [_tune(small_data, runs, storage, 3) for _ in range(2)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    for w, out in zip(workers, outputs, strict=True):
        assert w.returncode == 0, out
    study = optuna.load_study(study_name="shared", storage=storage)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(study.trials) == 3 and len(finished) == 3, [t.state for t in study.trials]
    assert sum(o.count("\ntrial ") + o.startswith("trial ") for o in outputs) == 3

    assert all("best trial" in o for o in outputs)

    # a second invocation (here in-process: no third interpreter start-up) with a larger total
    # adds trials to the same study
    base = RunConfig.from_dict(
        {
            "runs_dir": str(runs),
            "data": {"path": str(small_data), "workers": 0},
            "augment": {"img_size": 32},
            "train": {"epochs": 2},
        }
    )
    res = tune(base, TuneOptions(trials=5, storage=storage, study="shared"))
    assert res.ran_here == 2 and sum(res.counts.values()) == 5
    study = optuna.load_study(study_name="shared", storage=storage)
    assert len(study.trials) == 5 and res.best_trial == study.best_trial.number

    tune_dir = runs / "tune-shared"
    trials = pd.read_csv(tune_dir / "trials.csv")
    assert list(trials["number"]) == list(range(5))
    assert (tune_dir / "history.png").stat().st_size > 1000
    best = study.best_trial
    cfg = RunConfig.from_yaml(tune_dir / "best.yaml")  # a full RunConfig, usable by train
    assert cfg.train.lr == pytest.approx(best.params["train.lr"])
    assert cfg.train.batch_size == best.params["train.batch_size"]
    assert cfg.augment.preset == best.params["augment.preset"]
    assert cfg.data.path == str(small_data) and cfg.runs_dir == str(runs)
    raw = yaml.safe_load((tune_dir / "best.yaml").read_text())
    assert raw["name"] == "shared-best"


def test_optuna_lightning_pruning_callback_stops_a_run(small_data, tmp_path):
    """optuna-integration's callback speaks lightning 2.x: a pruned trial stops fit()."""
    from optuna_integration import PyTorchLightningPruningCallback

    import visionfit

    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))
    trial = study.ask()
    cfg = RunConfig.from_dict(
        {
            "runs_dir": str(tmp_path),
            "data": {"path": str(small_data), "workers": 0},
            "augment": {"img_size": 32},
            "train": {"epochs": 3, "batch_size": 16, "patience": None},
        }
    )
    with pytest.raises(optuna.TrialPruned, match="epoch 0"):
        visionfit.fit(
            cfg, progress=False, callbacks=[PyTorchLightningPruningCallback(trial, "val_loss")]
        )
    assert list(trial.storage.get_trial(trial._trial_id).intermediate_values) == [0]


def test_space_samples_schedule_and_head_options_by_short_name():
    base = RunConfig.from_dict({"train": {"opt": "sgd"}, "finetune": {"head": "mlp"}})
    space = {
        "gamma": {"low": 0.1, "high": 0.9},
        "step_size": [2, 5],
        "momentum": [0.8, 0.95],
        "head_dropout": ["0.25,0.5", 0.1],
        "head_hidden": [128, 512],
    }
    params = {p.key: p for p in load_space(space, base)}
    assert set(params) == {
        "train.gamma",
        "train.step_size",
        "train.momentum",
        "finetune.head_dropout",
        "finetune.head_hidden",
    }
    with pytest.raises(VisionfitError, match="gamma"):
        load_space({"gamma": {"low": 0.5, "high": 2.0}}, base)  # a rate that grows is refused
