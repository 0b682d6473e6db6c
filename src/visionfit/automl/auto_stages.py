"""The stages of `visionfit auto` (automl/auto.py): check, baseline, one training, the ensemble.

Every stage appends (or updates) one record in the state's `stages` list and saves the state
when it ends, so a killed `auto` knows what finished.
"""

from __future__ import annotations

import gc
import math
import time
from pathlib import Path

from visionfit.automl.auto_plan import Candidate
from visionfit.config import BaselineConfig, RunConfig
from visionfit.engine.deadline import Deadline
from visionfit.engine.resumable import TestKillSwitch
from visionfit.errors import DataError, VisionfitError
from visionfit.progress import in_a_log
from visionfit.runs import files as run_files
from visionfit.runs.kind import is_finished
from visionfit.runs.summary import RunSummary, read_summary, try_read_summary
from visionfit.tasks.base import ScoreSplit

# The baseline runs when the data is at most this many images per second of budget (pixel
# features of 32 x 32 images and a random forest on 2 cores take about 10-30 ms per image).
BASELINE_IMAGES_PER_BUDGET_S = 20
# ... and at most this many: a 300-tree forest grows as n log n (60,000 Fashion-MNIST images
# would take 10+ minutes of 2 cores, a sixth of an hour's budget, for a reference row)
BASELINE_MAX_IMAGES = 20_000
# What a run does after training besides its validation passes, until measured: reloading the
# best weights, the bundle, bootstrap intervals, the curves plot, summary.json (a few seconds of
# Python on a loaded machine; the README's auto once overran its budget by 16 s without it)
RUN_TAIL_S = 6.0
TAIL_SHARE = 0.05  # ... but at most this share of a small budget (small data, short tails)


def run_check_stage(state: dict, cfg: RunConfig, clock, save) -> None:
    """`visionfit check` on the data; data that cannot be trained on stops here."""
    if "check" in state:
        return
    from visionfit.tasks.check import check

    t0 = time.time()
    clock.say("checking the data")
    report = check(cfg, progress=False)
    if not report.usable:
        raise DataError("the data cannot be trained on: " + "; ".join(report.problems))
    sizes = [report.size_stats.get(k, {}).get("median") for k in ("width", "height")]
    native = int(max([s for s in sizes if s] or [cfg.augment.img_size]))
    state["check"] = {
        "native_size": native,
        "usable_images": report.counts.get("usable") if isinstance(report.counts, dict) else None,
        "warnings": list(report.warnings)[:10],
        "modes": dict(report.modes),
        "duplicates": len(report.duplicates),
        "seconds": time.time() - t0,
    }
    for w in report.warnings[:3]:
        clock.say(f"  check: {w}")
    save()


def run_baseline_stage(state: dict, cfg: RunConfig, data, auto_dir: Path, clock, save) -> None:
    """The scikit-learn baseline (random forest on 32 px pixels, 3-fold CV on the non-test
    images), when the data is small enough for the budget."""
    if any(s["kind"] == "baseline" for s in state["stages"]):
        return
    from visionfit.engine.baseline import run_baseline

    n = int((data.df["split"] != "test").sum())
    stage = {"kind": "baseline", "name": "baseline-rf", "status": "skipped"}
    state["stages"].append(stage)
    if n > min(BASELINE_MAX_IMAGES, BASELINE_IMAGES_PER_BUDGET_S * clock.budget_s):
        stage["why"] = f"{n} images are too many for a {clock.budget_s:.0f} s budget"
        clock.say(f"baseline skipped: {stage['why']}")
        save()
        return
    clock.say(f"baseline: random forest on pixels, 3-fold CV on {n} images")
    t0 = time.time()
    bcfg = BaselineConfig.from_dict(
        {
            "data": cfg.data.model_dump(mode="json"),
            "cv": {"folds": 3},
            "model": "rf",
            "seed": cfg.train.seed,
            "runs_dir": str(auto_dir),
            "name": "baseline-rf",
        }
    )
    result = run_baseline(bcfg, progress=False)
    metric = result.scores.main_metric
    stage.update(
        status="done",
        metric=metric.removeprefix("val_"),
        val=float(result.scores.mean.get(metric, math.nan)),
        validated_on=f"{result.folds}-fold CV",
        seconds=time.time() - t0,
        run_dir=str(result.run_dir),
    )
    clock.say(f"  baseline {stage['metric']} {stage['val']:.4f}")
    save()


def train_stage(state, stage, task, cfg, data, df, choice, auto_dir, clock, save, reserve):
    """Train `choice` in a new run directory of AUTO_DIR, or (choice None) resume the killed
    training of `stage`; the stage records its validation score, seconds and tail (`tail_s`:
    the seconds from the end of training to the end of the run)."""
    cand = _candidate_of(state, stage["name"])
    t0 = time.time()
    tail = run_tail_s(state, cand)
    limit = plan_end = clock.deadline - reserve
    if choice is not None and choice.whole:
        limit = math.inf
    elif choice is not None:  # a run that overruns its plan by far leaves the rest to others
        limit = min(limit, t0 + 1.25 * choice.seconds + 5)
        # the time it was given (its share, which `choose` gave without the tail) may hold
        # more than its whole planned epochs: re-planning fills it
        plan_end = min(plan_end, t0 + max(choice.seconds, (choice.share_s or 0.0) + tail))
    # a new run re-plans its epochs once it has timed one (the plan came from a few steps)
    replan = choice is not None and not choice.whole
    deadline = Deadline(limit, tail, plan_end=plan_end if replan else None, say=clock.say)
    try:
        if choice is None:
            result = _resume_training(stage, clock, deadline)
        else:
            result = _new_training(
                state, stage, task, cfg, data, df, choice, auto_dir, clock, save, deadline
            )
    except VisionfitError as e:
        stage.update(status="failed", why=str(e), seconds=time.time() - t0)
        clock.say(f"  {stage['name']} failed: {e}")
        save()
        return
    stage.update(
        status="done",
        metric=result.val_score["metric"],
        val=float(result.val_score["value"]),
        validated_on=f"hold-out val ({result.n_val} images)",
        epochs_run=_epochs_run(Path(stage["run_dir"])),
        seconds=stage.get("seconds", 0.0) + time.time() - t0,
    )
    if deadline.ended_at is not None:
        stage["tail_s"] = time.time() - deadline.ended_at
    if deadline.epochs is not None:
        stage["epochs"] = deadline.epochs
    clock.say(f"  {stage['name']}: {stage['metric']} {stage['val']:.4f} (validation)")
    save()
    del result
    gc.collect()  # one network alive at a time


def run_tail_s(state: dict, cand: Candidate) -> float:
    """Seconds a run of `cand` needs after its training: its validation passes (best weights,
    post-processing, final scores) and the rest (the bundle, intervals, curves, summary) —
    `RUN_TAIL_S` (at most `TAIL_SHARE` of the budget) until a run of this `auto` has measured it
    (its `tail_s`, with a 20 % margin)."""
    passes = 3 * cand.val_batches * cand.val_batch_s
    tails = [s["tail_s"] for s in state.get("stages", []) if s.get("tail_s") is not None]
    prior = min(RUN_TAIL_S, TAIL_SHARE * float(state.get("budget_s") or 1e9))
    return 1.0 + passes + (1.2 * max(tails) if tails else prior)


def _new_training(state, stage, task, cfg, data, df, choice, auto_dir, clock, save, deadline):
    from visionfit.automl.auto_plan import candidate_config
    from visionfit.engine.fit import resolve_config, train_in_run_dir, write_run_inputs
    from visionfit.engine.lr_range import apply_lr_find
    from visionfit.engine.trainer import create_model
    from visionfit.runs.lock import acquire_run_lock

    cand, n = choice.candidate, len(state["stages"])
    same = sum(s["name"] == cand.name for s in state["stages"][:-1])
    seed = cfg.train.seed + same  # another seed for each run of the same network
    ccfg = candidate_config(cfg, cand, seed=seed, epochs=max(1, choice.epochs))
    ccfg = resolve_config(task, ccfg, data)
    clock.say(f"training {cand.name} (seed {seed}), {choice.epochs} epochs: {stage['why']}")
    run_dir = auto_dir / (f"{n:02d}-{cand.name}" + (f"-seed{seed}" if same else ""))
    run_dir.mkdir()
    stage.update(status="running", run_dir=str(run_dir), seed=seed)
    stage["label"] = f"{cand.name} seed {seed}" if same else cand.name
    save()
    lock = acquire_run_lock(run_dir)
    ccfg, lr_notes = apply_lr_find(task, ccfg, data, df)
    created = create_model(task, ccfg, data)
    write_run_inputs(run_dir, ccfg, task, data, df)
    callbacks = [deadline]
    kill = TestKillSwitch.for_auto_stage(sum(s["kind"] == "network" for s in state["stages"]))
    callbacks += [kill] if kill else []
    return train_in_run_dir(
        task,
        ccfg,
        data,
        df,
        run_dir,
        created,
        t_start=time.perf_counter(),
        notes=lr_notes,
        progress=in_a_log(),  # epochs as lines in a log; auto's own lines on a terminal
        lock=lock,
        callbacks=callbacks,
        score_test=False,
    )


def _resume_training(stage, clock, deadline):
    from visionfit.engine.resume import resume

    run_dir = Path(stage["run_dir"])
    clock.say(f"resuming {stage['name']} in {run_dir.name}")
    if is_finished(run_dir):
        # killed after the run ended but before the stage was recorded
        return _FinishedRun(run_dir, read_summary(run_dir))
    return resume(run_dir, progress=in_a_log(), callbacks=[deadline], score_test=False)


class _FinishedRun:
    """What train_stage reads of a RunResult, from a finished run's summary.json."""

    def __init__(self, run_dir: Path, summary: RunSummary):
        self.run_dir = run_dir
        self.val_score = summary.get("val_score") or {
            "metric": summary.main_metric,
            "value": summary.score,
        }
        self.n_val = summary.n_val


def _epochs_run(run_dir: Path) -> int | None:
    summary = try_read_summary(run_dir)
    return summary.get("epochs_run") if summary is not None else None


def _candidate_of(state: dict, name: str) -> Candidate:
    for raw in state.get("candidates", []):
        if raw["name"] == name:
            return Candidate.from_json(raw)
    return Candidate(name=name, overrides={})


def best_stage(state: dict) -> dict | None:
    """The finished network or ensemble with the best validation score (the baseline is on the
    leaderboard, but the kept model is a network: predict, report, export and serve use it)."""
    done = [
        s
        for s in state["stages"]
        if s["kind"] in ("network", "ensemble")
        and s["status"] == "done"
        and math.isfinite(s.get("val", math.nan))
    ]
    return max(done, key=lambda s: s["val"]) if done else None


def make_ensemble(state, task, data, df, auto_dir: Path, clock, save) -> None:
    """Runs of the best network (same preprocessing, other seeds) averaged, scored on the
    validation split as the test split will be."""
    from visionfit.inference.loading import load_run as load
    from visionfit.runs.meta import write_ensemble_meta

    if any(s["kind"] == "ensemble" for s in state["stages"]):
        return
    runs = [s for s in state["stages"] if s["kind"] == "network" and s["status"] == "done"]
    top = max(runs, key=lambda s: s["val"], default=None)
    # the same network and preprocessing, within 0.02 of the best (a short run is left out)
    members = [
        s
        for s in runs
        if top is not None and s["name"] == top["name"] and s["val"] >= top["val"] - 0.02
    ]
    if len(members) < 2 or clock.left() < 1.0:  # the final reserve pays for this
        return
    t0 = time.time()
    out = auto_dir / f"ensemble-{top['name']}"
    out.mkdir()
    first = Path(members[0]["run_dir"])
    cfg = run_files.read_config(first)
    run_files.write_config(out, cfg)
    run_files.write_classes(out, run_files.read_classes(first) or [])
    write_ensemble_meta(out, [f"../{Path(s['run_dir']).name}" for s in members], {})
    clock.say(f"scoring the ensemble of {len(members)} {top['name']} runs on validation")
    val_df = df[df["split"] == "val"]
    scores = task.score_split(ScoreSplit(cfg, data, load(out), val_df, out, split="val"))
    state["stages"].append(
        {
            "kind": "ensemble",
            "name": f"ensemble of {len(members)} x {top['name']}",
            "status": "done",
            "metric": scores["metric"],
            "val": float(scores["score"]),
            "validated_on": f"hold-out val ({len(val_df)} images)",
            "seconds": time.time() - t0,
            "run_dir": str(out),
        }
    )
    clock.say(f"  ensemble: {scores['metric']} {scores['score']:.4f} (validation)")
    save()
