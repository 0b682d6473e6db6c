"""auto's leaderboard: each network's interval (from its summary.json) and the seed spread of a
network trained with several seeds."""

from __future__ import annotations

import math

import pandas as pd

from visionfit.automl.auto import leaderboard
from visionfit.automl.auto_intervals import seed_spreads, stage_interval
from visionfit.runs.summary import RunSummary, write_summary


def _network(tmp_path, name, label, val, interval=None):
    run = tmp_path / label.replace(" ", "-")
    run.mkdir()
    extra = {"interval": interval} if interval else {}
    write_summary(run, RunSummary.of("single", main_metric="val_acc", score=val, **extra))
    return {"kind": "network", "name": name, "label": label, "status": "done", "val": val,
            "metric": "acc", "run_dir": str(run)}  # fmt: skip


def test_leaderboard_shows_intervals_and_the_seed_spread(tmp_path):
    iv = {"low": 0.8, "high": 0.9, "level": 0.95, "n": 100, "resamples": 1000, "unit": "images"}
    stages = [
        _network(tmp_path, "cnn", "cnn", 0.85, iv),
        _network(tmp_path, "cnn", "cnn seed 43", 0.80),
        _network(tmp_path, "cnn", "cnn seed 44", 0.90),
        _network(tmp_path, "resnet", "resnet", 0.70),
        {"kind": "baseline", "name": "baseline-rf", "status": "done", "val": 0.6},
    ]
    state = {"stages": stages, "best_run": stages[2]["run_dir"],
             "test": {"score": 0.88, "interval": {"low": 0.81, "high": 0.93}}}  # fmt: skip
    board = leaderboard(state).set_index("name")
    assert board.loc["cnn", ["val_low", "val_high"]].tolist() == [0.8, 0.9]
    assert math.isnan(board.loc["cnn seed 43", "val_low"])  # its summary has no interval
    assert board.loc["cnn seed 44", ["test_low", "test_high"]].tolist() == [0.81, 0.93]
    spread = board.loc["cnn", "seed_spread"]
    assert spread.startswith("0.8000–0.9000, 0.8500 ± 0.0500 over 3 seeds")
    assert (
        board.loc["resnet", "seed_spread"] == "" and board.loc["baseline-rf", "seed_spread"] == ""
    )
    assert pd.isna(board.loc["baseline-rf", "val_low"])


def test_one_seed_has_no_spread_and_a_stage_without_a_run_has_no_interval():
    stages = [{"kind": "network", "name": "cnn", "status": "done", "val": 0.5}]
    assert seed_spreads(stages) == {}
    low, high = stage_interval(stages[0])
    assert math.isnan(low) and math.isnan(high)
    assert seed_spreads(stages * 2)["cnn"] == "0.5000–0.5000, 0.5000 ± 0.0000 over 2 seeds"
