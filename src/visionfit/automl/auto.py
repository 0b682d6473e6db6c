"""`visionfit auto DATA --budget 30m`: the best model a time budget allows, honestly scored.

In one directory `AUTO_DIR` (runs_dir/auto-<time>), within the budget (the wall clock of the
whole command, start-up included):

1. read and scan the data once; draw the train / val / test split once (`splits.csv`), shared
   by every stage; run `check` (tasks/check.py) and stop on data that cannot be trained on;
2. the scikit-learn baseline (3-fold CV on the non-test images) when the task has one and the
   data is small enough for the budget;
3. time each candidate network (`Task.auto_candidates`) for a few steps on this machine; decide
   from a short pilot whether the data may be flipped left-right (automl/auto_flips.py);
4. train the candidate with the best expected score in the time left (automl/auto_plan.py), with
   the recipe (`--recipe`, default `default`), its epochs sized to its share and a `Deadline`
   callback as the safety net; while time remains, train more (the next best, or the same
   network with another seed) — runs of one network with one preprocessing are also scored as
   an ensemble on the validation split;
5. pick the best by its validation score, score it once on the test split, write
   `leaderboard.csv` and `auto.json` (`best_run`; `AUTO_DIR/best` links to it).

Each stage is recorded in `auto.json` when it ends; `--resume AUTO_DIR` keeps finished stages,
continues a killed training from its checkpoint (engine/resume.py) and spends what is left.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.console import Console

from visionfit.automl.auto_flips import flip_stage
from visionfit.automl.auto_inputs import (
    batch_for_size,
    bf16_worth_timing,
    input_overrides,
    split_overrides,
    was_typed,
)
from visionfit.automl.auto_intervals import seed_spreads, stage_interval
from visionfit.automl.auto_plan import (
    Candidate,
    Choice,
    candidate_config,
    choose,
    epochs_scale_factor,
    time_candidate,
)
from visionfit.automl.auto_stages import (
    best_stage,
    make_ensemble,
    run_baseline_stage,
    run_check_stage,
    run_tail_s,
    train_stage,
)
from visionfit.config import RunConfig
from visionfit.engine.fit import prepare, split_run
from visionfit.engine.intervals import run_interval
from visionfit.engine.testsplit import score_test_split
from visionfit.errors import RunError, VisionfitError
from visionfit.fileio import json_safe
from visionfit.progress import in_a_log
from visionfit.runs import files as run_files
from visionfit.runs.kind import AUTO_STATE
from visionfit.runs.rundir import atomic_write_csv, atomic_write_text, create_run_dir

STATE_FILE = AUTO_STATE
LEADERBOARD_FILE = "leaderboard.csv"
MAX_TRAININGS = 6
FINAL_FIXED_S = 4.0
FINAL_SHARE = 0.03  # FINAL_FIXED_S, but at most this share of a small budget
MARGIN = 0.02


@dataclass
class AutoResult:
    auto_dir: Path
    best_run: Path | None
    leaderboard: pd.DataFrame
    seconds: float
    budget_s: float
    test: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Clock:
    """The budget's wall clock (from the process start) and the progress lines."""

    def __init__(self, started_at: float, budget_s: float, console: Console):
        self.t0, self.budget_s, self.console = started_at, budget_s, console
        self.deadline = started_at + budget_s

    def elapsed(self) -> float:
        return time.time() - self.t0

    def left(self) -> float:
        return self.deadline - time.time()

    def say(self, msg: str) -> None:
        self.console.print(
            f"[dim][{self.elapsed():5.0f} s | {max(0.0, self.left()):5.0f} s left][/] {msg}",
            highlight=False,
        )


def run_auto(
    cfg: RunConfig,
    budget_s: float,
    *,
    resume: str | Path | None = None,
    progress: bool = True,
    started_at: float | None = None,
    candidates: list[str] | None = None,
    typed: set[str] | None = None,
) -> AutoResult:
    """Spend `budget_s` seconds on the best model for `cfg`'s data (see the module docstring).

    `started_at`: when the command started (`time.time()`), so start-up counts; `resume`: an
    AUTO_DIR to continue, with this call's budget (0: the budget left when it was killed);
    `candidates`: only the candidate networks whose names start with one of these; `typed`: the
    config keys the user set (the CLI knows; None: those that differ from the defaults), which
    `auto` leaves as they are (automl/auto_inputs.py decides the others).

    >>> result = run_auto(RunConfig.from_dict({"data": {"path": "data/"}}), 600)
    >>> result.best_run, result.leaderboard
    """
    t0 = started_at or time.time()
    console = Console(stderr=True, quiet=not progress)
    state, auto_dir = _open_state(cfg, budget_s, resume)
    if candidates is not None and resume is None:
        state["only"] = list(candidates)
    if typed is not None and resume is None:
        state["typed"] = sorted(typed)
    cfg = RunConfig.from_dict(state["config"])
    budget = budget_s if budget_s else max(0.0, state["budget_s"] - state.get("spent_s", 0.0))
    clock = Clock(t0, budget, console)
    save = _saver(auto_dir, state, clock)
    clock.say(f"auto in {auto_dir}, budget {budget:.0f} s")

    task, rcfg, data = prepare(cfg, progress=in_a_log())  # its scan: lines in a log
    given = set(state["typed"]) if "typed" in state else None
    chosen = split_overrides(cfg, len(data.df), given)
    cfg, rcfg = cfg.with_overrides(chosen), rcfg.with_overrides(chosen)
    df = _shared_split(auto_dir, task, rcfg, data)
    run_check_stage(state, cfg, clock, save)
    chosen.update(input_overrides(cfg, state["check"].get("modes", {}), given))
    cfg = cfg.with_overrides(chosen)
    if chosen:
        state["config"], state["inputs"] = cfg.model_dump(mode="json"), chosen
        clock.say("inputs: " + ", ".join(f"{k.split('.')[-1]} {v}" for k, v in chosen.items()))
        save()
    if task.baseline() is not None:
        run_baseline_stage(state, cfg, data, auto_dir, clock, save)
    cands = _timed_candidates(state, task, cfg, data, df, clock, save)
    cfg = flip_stage(state, task, cfg, data, df, cands, clock, save, given)
    _train_while_time_left(state, task, cfg, data, df, cands, auto_dir, clock, save)
    best, test = _keep_best(state, task, data, df, auto_dir, clock)
    board = leaderboard(state)
    atomic_write_csv(auto_dir / LEADERBOARD_FILE, board)
    save("finished")
    clock.say(f"done in {clock.elapsed():.0f} s of {budget:.0f} s")
    return AutoResult(
        auto_dir=auto_dir,
        best_run=Path(best["run_dir"]) if best else None,
        leaderboard=board,
        seconds=clock.elapsed(),
        budget_s=budget,
        test=test,
        notes=list(state.get("notes", [])),
    )


def _keep_best(state, task, data, df, auto_dir: Path, clock: Clock) -> tuple[dict | None, dict]:
    """The stage with the best validation score, scored once on the test split."""
    best = best_stage(state)
    if best is None:
        clock.say("no network finished in the budget")
        return None, {}
    run_dir = Path(best["run_dir"])
    label = best.get("label", best["name"])
    clock.say(f"best: {label} ({best['metric']} {best['val']:.4f} on validation)")
    test_df = _test_rows(df)
    if len(test_df):
        clock.say(f"scoring the test split once ({len(test_df)} images)")
    best_cfg = run_files.read_config(run_dir)
    test = score_test_split(task, best_cfg, data, run_dir, test_df)
    test_iv = run_interval(task, best_cfg, data, test_df, run_dir, "test")
    if test and test_iv:
        test["interval"] = test_iv
    state["best_run"], state["test"] = str(run_dir), test
    _link_best(auto_dir, run_dir)
    return best, test


def _open_state(cfg: RunConfig, budget_s: float, resume) -> tuple[dict, Path]:
    if resume is None:
        auto_dir = create_run_dir(cfg.runs_dir, cfg.name or "auto")
        state = {
            "kind": "auto",
            "budget_s": budget_s,
            "spent_s": 0.0,
            "config": cfg.model_dump(mode="json"),
            "stages": [],
            "notes": [],
        }
        atomic_write_text(auto_dir / STATE_FILE, json.dumps(json_safe(state), indent=2))
        return state, auto_dir
    auto_dir = Path(resume)
    path = auto_dir / STATE_FILE
    if not path.is_file():
        raise RunError(f"{auto_dir} has no {STATE_FILE}: it is not a `visionfit auto` directory")
    state = run_files.read_json(path)
    if not isinstance(state, dict):
        raise RunError(f"{path} is damaged (not a JSON object): start a new visionfit auto")
    if state.get("status") == "finished":
        raise RunError(f"{auto_dir} is already finished (see {LEADERBOARD_FILE})")
    state["resumed"] = state.get("resumed", 0) + 1
    return state, auto_dir


def _saver(auto_dir: Path, state: dict, clock: Clock):
    spent_before = float(state.get("spent_s", 0.0))

    def save(status: str = "running") -> None:
        state["status"] = status
        state["spent_s"] = spent_before + clock.elapsed()
        atomic_write_text(auto_dir / STATE_FILE, json.dumps(json_safe(state), indent=2))

    return save


def _shared_split(auto_dir: Path, task, cfg: RunConfig, data) -> pd.DataFrame:
    """One train / val / test split for every stage; a resumed run checks it drew the same."""
    df = split_run(task, cfg, data).reset_index(drop=True)
    before = run_files.read_splits(auto_dir)
    if before is not None:
        if (
            before["image"].tolist() != df["image"].astype(str).tolist()
            or before["split"].tolist() != df["split"].tolist()
        ):
            raise RunError(
                f"the data of {auto_dir} changed since it started (splits.csv differs): "
                "start a new `visionfit auto`"
            )
    else:
        run_files.write_splits(auto_dir, df[task.split_columns(df)])
    return df


def _test_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["split"] == "test"]


def _timed_candidates(state, task, cfg, data, df, clock: Clock, save) -> list[Candidate]:
    """Every candidate timed on this machine (once; a resumed run reuses the timings)."""
    if "candidates" in state:
        return [Candidate.from_json(c) for c in state["candidates"]]
    from visionfit.models.weights import list_offline_weights

    offline = [w["model"] for w in list_offline_weights()]
    native = int(state.get("check", {}).get("native_size") or cfg.augment.img_size)
    specs = task.auto_candidates(cfg, data, native, offline)
    only = state.get("only")
    specs = [s for s in specs if not only or any(s["name"].startswith(o) for o in only)]
    if not specs:
        raise VisionfitError(f"no candidate network matches {only}")
    train_df, val_df = df[df["split"] == "train"], df[df["split"] == "val"]
    given = set(state["typed"]) if "typed" in state else None
    batch_typed = was_typed("train.batch_size", given, cfg, RunConfig())
    try_bf16 = bf16_worth_timing(cfg, given)
    cands = []
    for spec in specs:
        cand = Candidate(**spec)
        cand.epochs_scale *= epochs_scale_factor(len(train_df))
        if not batch_typed:
            size = int(cand.overrides.get("augment.img_size", cfg.augment.img_size))
            cand.overrides["train.batch_size"] = batch_for_size(size)
        if clock.left() < 0.5 * clock.budget_s and cands:
            cand.notes.append("not timed: the budget was half spent")
        else:
            clock.say(f"timing {cand.name}")
            _time(task, cfg, data, train_df, val_df, cand, try_bf16)
            clock.say(
                f"  {cand.name}: {cand.step_s * 1000:.0f} ms/step, {cand.epoch_s:.1f} s/epoch"
                + (" (bfloat16)" if cand.overrides.get("train.precision") else "")
            )
        cands.append(cand)
    state["candidates"] = [c.to_json() for c in cands]
    save()
    return cands


def _time(task, cfg, data, train_df, val_df, cand: Candidate, try_bf16: bool) -> None:
    """Time `cand` in float32 and, where it may pay, in bfloat16; keep the faster (by 10 %)."""
    from visionfit.engine.fit import resolve_config

    ccfg = resolve_config(task, candidate_config(cfg, cand, seed=cfg.train.seed), data)
    time_candidate(task, ccfg, data, train_df, val_df, cand)
    if not try_bf16:
        return
    fp32 = Candidate.from_json(cand.to_json())
    bf16 = Candidate.from_json(cand.to_json())
    bf16.overrides["train.precision"] = "bf16-mixed"
    time_candidate(
        task, ccfg.with_overrides({"train.precision": "bf16-mixed"}), data, train_df, val_df, bf16
    )
    faster = bf16 if bf16.epoch_s < fp32.epoch_s / 1.1 else fp32
    cand.__dict__.update(Candidate.from_json(faster.to_json()).__dict__)
    cand.notes.append(f"bfloat16 {fp32.epoch_s / max(bf16.epoch_s, 1e-9):.2f}x float32's speed")


def _train_while_time_left(state, task, cfg, data, df, cands, auto_dir, clock, save) -> None:
    """Resume a killed training, then train the best choice for the time left, repeatedly."""
    n_eval = int((df["split"] != "train").sum())
    trained = {s["name"] for s in state["stages"] if s["kind"] == "network"}
    for stage in state["stages"]:
        if stage["status"] == "running":
            reserve = final_reserve(clock.budget_s, _named(cands, trained), n_eval)
            train_stage(state, stage, task, cfg, data, df, None, auto_dir, clock, save, reserve)
    while sum(s["kind"] == "network" for s in state["stages"]) < MAX_TRAININGS:
        first = not trained
        options = []  # each candidate with the reserve its own predictions need
        for cand in (c for c in cands if c.timed):
            reserve = final_reserve(clock.budget_s, _named(cands, trained | {cand.name}), n_eval)
            tail = run_tail_s(state, cand)
            choice = choose([cand], clock.left() - reserve - tail, leave_for_more=first)
            if choice is not None:
                options.append((cand.expected(choice.seconds), reserve, choice))
        if not options and first and (fastest := _fastest(cands)) is not None:
            # a model rather than none: one epoch of the fastest network, past the budget if
            # need be (a slow or busy machine spent the budget on start-up and measurements)
            why = "the budget left holds no training: one epoch of the fastest, so there is a model"
            options.append((0.0, 0.0, Choice(fastest, 1, fastest.seconds_for(1), why, whole=True)))
        if not options:
            clock.say(f"{max(0.0, clock.left()):.0f} s left: not enough for another training")
            break
        options.sort(key=lambda o: o[0], reverse=True)
        _, reserve, choice = options[0]
        others = ", ".join(f"{c.candidate.name} {e:.2f}" for e, _, c in options[1:3])
        stage = {"kind": "network", "name": choice.candidate.name, "status": "planned"}
        stage["epochs"] = choice.epochs
        stage["why"] = choice.why + (f" (others: {others})" if others else "")
        state["stages"].append(stage)
        train_stage(state, stage, task, cfg, data, df, choice, auto_dir, clock, save, reserve)
        trained.add(choice.candidate.name)
        _calibrate(state, cands, stage)
    make_ensemble(state, task, data, df, auto_dir, clock, save)


def _fastest(cands: list[Candidate]) -> Candidate | None:
    timed = [c for c in cands if c.timed and c.epoch_s > 0]
    return min(timed, key=lambda c: c.seconds_for(1)) if timed else None


def _named(cands: list[Candidate], names: set[str]) -> list[Candidate]:
    return [c for c in cands if c.name in names]


def _calibrate(state: dict, cands: list[Candidate], stage: dict) -> None:
    """After a run: its candidate's seconds per epoch as measured (timing.csv), for the next
    plans."""
    path = Path(stage.get("run_dir", "")) / "timing.csv"
    if not path.is_file():
        return
    seconds = pd.read_csv(path)["seconds"]
    if len(seconds) < 2:
        return
    for cand in cands:
        if cand.name == stage["name"]:
            cand.measured_epoch_s = float(seconds.iloc[1:].median())  # not the first epoch
    state["candidates"] = [c.to_json() for c in cands]


def final_reserve(budget_s: float, cands: list[Candidate], n_eval: int) -> float:
    """Seconds kept after the last training: loading the best model, predicting the validation
    (ensemble) and test images, with flips, their bootstrap intervals and the leaderboard
    (`FINAL_FIXED_S`, at most `FINAL_SHARE` of a small budget, and what the predictions take),
    and a margin of `MARGIN` of the budget for a machine that slows down under other work."""
    # seconds per image of the slowest candidate's validation batches
    image_s = max([c.val_batch_s / c.batch_size for c in cands if c.timed] or [0.05 / 32])
    predict_s = 3 * image_s * (64 + n_eval)
    return min(FINAL_FIXED_S, FINAL_SHARE * budget_s) + MARGIN * budget_s + predict_s


def leaderboard(state: dict) -> pd.DataFrame:
    """One row per baseline, network and ensemble: score, its 95 % bootstrap interval
    (val_low, val_high; test_low, test_high for the best), the seed spread of a network trained
    with several seeds, metric, seconds, run directory."""
    rows = []
    best = state.get("best_run")
    spreads = seed_spreads(state["stages"])
    for s in state["stages"]:
        if s["kind"] not in ("baseline", "network", "ensemble"):
            continue
        test = state.get("test", {}) if best and s.get("run_dir") == best else {}
        low, high = stage_interval(s)
        test_iv = test.get("interval") or {}
        rows.append(
            {
                "name": s.get("label", s["name"]),
                "kind": s["kind"],
                "status": s["status"],
                "metric": s.get("metric", ""),
                "val_score": s.get("val", math.nan),
                "val_low": low,
                "val_high": high,
                "validated_on": s.get("validated_on", ""),
                "test_score": test.get("score", math.nan),
                "test_low": test_iv.get("low", math.nan),
                "test_high": test_iv.get("high", math.nan),
                "seed_spread": spreads.get(s["name"], "") if s["kind"] == "network" else "",
                "epochs": s.get("epochs_run", s.get("epochs", "")),
                "seconds": round(float(s.get("seconds", 0.0)), 1),
                "best": best is not None and s.get("run_dir") == best,
                "run_dir": s.get("run_dir", ""),
            }
        )
    board = pd.DataFrame(rows)
    if len(board):
        board = board.sort_values("val_score", ascending=False, na_position="last")
    return board.reset_index(drop=True)


def _link_best(auto_dir: Path, run_dir: Path) -> None:
    link = auto_dir / "best"
    try:
        if link.is_symlink():
            link.unlink()
        link.symlink_to(run_dir.name, target_is_directory=True)
    except OSError:  # a file system without links: auto.json's best_run says it
        pass
