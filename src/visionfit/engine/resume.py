"""`visionfit train --resume RUN_DIR`: continue a run that was killed, in the same run directory.

The run's own files say what to do: `config.yaml` (the resolved config), `classes.json`,
`splits.csv` (exactly which images were in train and val) and `skipped.csv`. Training continues
from the newest checkpoint that loads: `checkpoints/last.ckpt`, else `checkpoints/previous.ckpt`
(the one written before it); the fallback is named in the output. Without any usable checkpoint
the run starts its training again from epoch 0 (same seed, same split), which gives the same
result as a run that was never interrupted.

A K-fold run (`train --folds K`) continues as a K-fold run: engine/cvresume.py.

>>> result = resume("runs/simple_cnn-20260101-120000")
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from visionfit.config import RunConfig
from visionfit.data.check import scan_files
from visionfit.engine.checkpoint_choice import (  # noqa: F401 (re-exported)
    CheckpointChoice,
    find_resume_checkpoint,
    inspect_checkpoint,
)
from visionfit.engine.cv import CVResult
from visionfit.engine.cvresume import resume_cv
from visionfit.engine.fit import RunResult, prepare, split_run, train_in_run_dir, write_run_inputs
from visionfit.engine.trainer import create_model, quiet_lightning
from visionfit.errors import RunError
from visionfit.runs import files as run_files
from visionfit.runs.kind import cv_run_of, is_finished, run_kind
from visionfit.runs.lock import acquire_run_lock
from visionfit.tasks.registry import task_for_config


def resume(
    run_dir: str | Path,
    *,
    progress: bool = True,
    say: Callable[[str], None] | None = None,
    callbacks: list | None = None,
    score_test: bool = True,
) -> RunResult | CVResult:
    """Continue the run in `run_dir` as what it was and finish it there: a hold-out run from its
    newest valid checkpoint (a `RunResult`), a K-fold run from its folds (a `CVResult`,
    engine/cvresume.py). Anything else (a finished run, a fold of a K-fold run, an auto or tune
    directory, a run another process is training) is refused with a RunError saying what to do.

    `say` receives one line per decision (which checkpoint, which fallback); default: silent.
    `callbacks` and `score_test` as in `fit` (hold-out runs).
    """
    t_start = time.perf_counter()
    say = say or (lambda _line: None)
    run_dir = Path(run_dir)
    kind = run_kind(run_dir)
    refused = _refusal(run_dir, kind)
    if refused:
        raise RunError(refused)
    quiet_lightning()
    warnings.filterwarnings("ignore", ".*exists and is not empty.*")  # it is the same run
    lock = acquire_run_lock(run_dir)
    if kind == "unfinished_cv":
        return resume_cv(run_dir, lock, progress=progress, say=say)  # releases the lock
    try:
        return _resume_locked(
            run_dir,
            lock,
            t_start=t_start,
            progress=progress,
            say=say,
            extra={"callbacks": callbacks, "score_test": score_test},
        )
    finally:
        lock.release()  # released by train_in_run_dir already when training ran


_FINISHED = {
    "single": "a finished hold-out run",
    "cv": "a finished K-fold cross-validation run",
    "baseline": "a finished baseline run",
    "auto": "a finished `visionfit auto` directory",
}


def _refusal(run_dir: Path, kind: str) -> str | None:
    """Why `run_dir` cannot be resumed (one line: what it is, what to type instead), or None."""
    if not run_dir.is_dir():
        return f"run directory not found: {run_dir}"
    if is_finished(run_dir):
        return (
            f"{run_dir} is already finished ({_FINISHED.get(kind, kind)}: its summary.json "
            "and model are written); nothing to resume: start a new run to train again"
        )
    parent = cv_run_of(run_dir)
    if kind == "fold" and parent is not None:
        if run_kind(parent) == "trial":
            return (
                f"{run_dir} is a fold of a `visionfit tune` trial: run the same `visionfit tune` "
                "command again to continue the study"
            )
        if run_kind(parent) in ("baseline", "unfinished_baseline"):
            return (
                f"{run_dir} is {run_dir.name}/ of the baseline run {parent}, a part of it: "
                "baselines are not resumed (start one with visionfit baseline)"
            )
        return (
            f"{run_dir} is {run_dir.name}/ of the K-fold run {parent}: resume that run, which "
            f"continues its folds: visionfit train --resume {parent}"
        )
    if kind == "auto":
        return (
            f"{run_dir} is a `visionfit auto` directory: continue it with "
            f"visionfit auto --resume {run_dir}"
        )
    if kind in ("tune", "trial"):
        what = "study" if kind == "tune" else "trial"
        return (
            f"{run_dir} is a `visionfit tune` {what}: run the same `visionfit tune` command "
            "again to continue the study (finished trials are kept)"
        )
    if kind == "unfinished_baseline":
        return (
            f"{run_dir} is a baseline that did not finish; baselines are not resumed: start it "
            f"again with visionfit baseline --config {run_files.path(run_dir, run_files.CONFIG)}"
        )
    if kind in ("ensemble", "member"):
        return (
            f"{run_dir} is a model without a run of its own (an ensemble or a member of one), "
            "not a run to resume"
        )
    if kind not in ("single", "unfinished", "unfinished_cv"):
        return (
            f"{run_dir} has no config.yaml: it is not a visionfit run, or it was killed before "
            "it started; start a new run"
        )
    return None


def _resume_locked(
    run_dir: Path, lock, *, t_start: float, progress: bool, say: Callable[[str], None], extra: dict
) -> RunResult:
    cfg = run_files.with_run_augment(run_dir, run_files.read_config(run_dir))
    task = task_for_config(cfg)
    if not run_files.has_inputs(run_dir):
        # Killed between creating the run and writing its split: draw it again, as fit does.
        _, cfg, data = prepare(cfg, progress=progress)
        df = split_run(task, cfg, data)
        write_run_inputs(run_dir, cfg, task, data, df)
    else:
        classes, table = _read_run_table(run_dir, cfg, progress)
        data = task.restore_data(run_dir, cfg, table, classes)
        df = data.df

    choice = find_resume_checkpoint(run_dir)
    for line in choice.decision_lines(str(run_dir), finishing="writing the bundle and summary"):
        say(line)
    created = create_model(task, cfg, data)
    notes = [f"resumed from {choice.path.name if choice.path else 'the start'}"]
    notes += [f"{m}; fell back" for m in choice.messages]
    return train_in_run_dir(
        task,
        cfg,
        data,
        df,
        run_dir,
        created,
        t_start=t_start,
        notes=notes,
        progress=progress,
        resume_from=choice.path,
        finished=choice.finished,
        lock=lock,
        **extra,
    )


def _read_run_table(
    run_dir: Path, cfg: RunConfig, progress: bool
) -> tuple[list[str], pd.DataFrame]:
    """classes.json and splits.csv as the run recorded them; every image must still decode
    (the checkpoint's position in the epoch counts on them)."""
    splits_path = run_files.path(run_dir, run_files.SPLITS)
    try:
        classes = run_files.read_classes(run_dir) or []
        df = run_files.read_splits(run_dir)
    except RunError as e:
        raise RunError(f"{run_dir}: classes.json or splits.csv is damaged ({e})") from None
    if df is None or not {"image", "label", "split"} <= set(df.columns):
        raise RunError(f"{splits_path} lacks the image, label and split columns")
    scan = scan_files(
        list(df["image"]),
        max_pixels=cfg.data.max_pixels,
        progress=progress,
        description="checking the run's images",
    )
    bad = [f for f in scan.files if not f.ok]
    if bad:
        listed = ", ".join(f"{f.image} ({f.reason})" for f in bad[:5])
        raise RunError(
            f"{len(bad)} images of this run changed since it started and cannot be read: "
            f"{listed}{', ...' if len(bad) > 5 else ''}; it cannot be resumed exactly: "
            "start a new run (it leaves them out)"
        )
    return classes, df
