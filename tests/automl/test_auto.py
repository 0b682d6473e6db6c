"""`visionfit auto`: a budget kept (every training told to stop by its end), a leaderboard, a
best run that predicts, a test split kept out of every stage and scored once; killed and
resumed, finished stages are kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import visionfit
from visionfit.automl.auto import run_auto
from visionfit.config import RunConfig, parse_duration
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.errors import VisionfitError

BUDGET = 60.0


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_shapes_dataset(tmp_path_factory.mktemp("auto") / "d", n_per_class=20, size=16)


def auto_config(data: Path, runs: Path) -> RunConfig:
    return RunConfig.from_dict(
        {
            "runs_dir": str(runs),
            "data": {"path": str(data), "workers": 0, "test_fraction": 0.15},
            "train": {"batch_size": 16, "recipe": "fast"},
        }
    )


def test_durations_parse():
    assert [parse_duration(t) for t in ("90s", "30m", "2h", "1h30m", "45")] == [
        90,
        1800,
        7200,
        5400,
        45,
    ]
    with pytest.raises(VisionfitError, match="e.g. 90s, 30m, 2h"):
        parse_duration("soon")


def test_auto_keeps_its_budget_and_the_test_split_out(data, tmp_path, monkeypatch):
    """The budget is asserted as auto's plan, not as wall-clock time (which another process on
    the machine would move): every training it starts is told to stop by the budget's end."""
    from visionfit.engine.deadline import Deadline

    told: list[tuple[float, float]] = []
    init = Deadline.__init__

    def recording(self, deadline, reserve_s=0.0, **kw):
        told.append((deadline, reserve_s))
        init(self, deadline, reserve_s, **kw)

    monkeypatch.setattr(Deadline, "__init__", recording)
    t0 = time.time()
    result = run_auto(
        auto_config(data, tmp_path), BUDGET, progress=False, started_at=t0, candidates=["simple"]
    )
    assert told and all(t0 < d <= t0 + BUDGET for d, _ in told), told

    board = pd.read_csv(result.auto_dir / "leaderboard.csv")
    assert {"baseline", "network"} <= set(board["kind"])
    assert board["best"].sum() == 1 and (board["val_score"].notna()).all()
    assert {"metric", "seconds", "run_dir", "test_score", "validated_on"} <= set(board.columns)
    best = Path(board.loc[board["best"], "run_dir"].iloc[0])
    assert result.best_run == best and (result.auto_dir / "best").resolve() == best.resolve()
    assert json.loads((result.auto_dir / "auto.json").read_text())["best_run"] == str(best)

    # the test split: the same rows everywhere, in no stage's training, validation or folds
    splits = pd.read_csv(result.auto_dir / "splits.csv")
    test = set(splits.loc[splits["split"] == "test", "image"])
    assert len(test) == 9
    for run in board.loc[board["kind"] == "network", "run_dir"]:
        own = pd.read_csv(Path(run) / "splits.csv")
        assert set(own.loc[own["split"] == "test", "image"]) == test
        assert not test & set(own.loc[own["split"] != "test", "image"])
    baseline = Path(board.loc[board["kind"] == "baseline", "run_dir"].iloc[0])
    assert not test & set(pd.read_csv(baseline / "folds.csv")["image"])

    # scored once, by the best run's own predictions; my scoring of them agrees
    scores = json.loads((best / "test_scores.json").read_text())
    rows = splits[splits["split"] == "test"]
    pred = visionfit.load(best).predict(list(rows["image"]))
    assert scores["score"] == pytest.approx(float((pred["pred"].values == rows["label"]).mean()))
    assert board.loc[board["best"], "test_score"].iloc[0] == pytest.approx(scores["score"])
    assert board.loc[~board["best"], "test_score"].isna().all()  # only the kept model
    # each run's 95 % bootstrap interval (its summary.json), the test split's for the best
    best_row = board[board["best"]].iloc[0]
    assert best_row["test_low"] <= scores["score"] <= best_row["test_high"]
    assert board.loc[board["kind"] != "ensemble", "val_low"].notna().all()


def _cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "visionfit.cli", "auto", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_killed_auto_resumes_and_keeps_finished_stages(data, tmp_path):
    # Killed in the 2nd epoch of its first training (after the baseline stage finished and the
    # first epoch's checkpoint): what happens does not depend on how fast this machine is. The
    # budget is far more than the kill leaves it to spend: on a busy machine start-up and the
    # baseline alone took 45 s, and the one epoch auto then trains never reached the kill.
    env = {
        **os.environ,
        "VISIONFIT_CACHE": str(tmp_path / "cache"),
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "200",
        "VISIONFIT_TEST_KILL_AUTO": "stage:1:batch:4",  # 3 steps per epoch: in the 2nd epoch
    }
    args = [str(data), "--budget", "10m", "--runs-dir", str(tmp_path), "--recipe", "fast"]
    args += ["--candidates", "simple_cnn", "--workers", "0", "--batch-size", "16"]
    killed = _cli(args, env)
    assert killed.returncode == -9, killed.stderr[-2000:]
    auto_dir = next(tmp_path.glob("auto-*"))
    before = json.loads((auto_dir / "auto.json").read_text())
    done = [s for s in before["stages"] if s["status"] == "done"]
    running = [s for s in before["stages"] if s["status"] == "running"]
    assert [s["kind"] for s in done] == ["baseline"] and len(running) == 1
    baseline_files = {p: p.read_bytes() for p in Path(done[0]["run_dir"]).rglob("*") if p.is_file()}
    assert baseline_files

    del env["VISIONFIT_TEST_KILL_AUTO"]
    resumed = _cli(["--resume", str(auto_dir), "--budget", "20s"], env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in resumed.stderr and "leaderboard" in resumed.stdout
    after = json.loads((auto_dir / "auto.json").read_text())
    assert after["status"] == "finished"
    assert after["stages"][: len(done)] == done  # finished stages kept as they were
    for path, data_before in baseline_files.items():  # the baseline not run again
        assert path.read_bytes() == data_before, path
    again = next(s for s in after["stages"] if s.get("run_dir") == running[0]["run_dir"])
    assert again["status"] == "done"  # the killed training continued in its own directory
    summary = json.loads((Path(again["run_dir"]) / "summary.json").read_text())
    assert "resumed_from" in summary
    board = pd.read_csv(auto_dir / "leaderboard.csv")
    assert len(board) >= 2 and board["best"].sum() == 1


def _timed(name, step_s, quality, scale):
    from visionfit.automl.auto_plan import Candidate

    return Candidate(
        name,
        {},
        quality,
        scale,
        step_s=step_s,
        steps_per_epoch=10,
        val_batches=2,
        val_batch_s=step_s / 3,
        timed=True,
    )


def test_the_plan_trades_epochs_of_a_small_net_against_fewer_of_a_larger_one():
    from visionfit.automl.auto_plan import choose

    small, large = _timed("small", 0.05, 1.0, 8.0), _timed("large", 1.0, 1.12, 3.0)
    short = choose([small, large], 30, leave_for_more=True)
    assert short.candidate is small  # 30 s: one epoch of the large net is not worth it
    long = choose([small, large], 600, leave_for_more=True)
    assert long.candidate is large and long.epochs >= 10
    assert long.seconds <= 600
    # saturated: the first run keeps 40 % for a second model
    sat = choose([small], 300, leave_for_more=True)
    assert sat.seconds <= 0.6 * 300 + small.epoch_s
    # a later run too short to help an ensemble is not started
    assert choose([small], small.fixed_s() + 2 * small.epoch_s, leave_for_more=False) is None
    assert choose([large], 1.0, leave_for_more=True) is None
