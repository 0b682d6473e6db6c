"""`visionfit train --resume RUN_DIR`: continue a run that was killed, in the same run directory.

The run's own files say what to do: `config.yaml` (the resolved config), `classes.json`,
`splits.csv` (exactly which images were in train and val) and `skipped.csv`. Training continues
from the newest checkpoint that loads: `checkpoints/last.ckpt`, else `checkpoints/previous.ckpt`
(the one written before it); the fallback is named in the output. Without any usable checkpoint
the run starts its training again from epoch 0 (same seed, same split), which gives the same
result as a run that was never interrupted.

>>> result = resume("runs/simple_cnn-20260101-120000")
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from visionfit.config import RunConfig
from visionfit.data.check import scan_files
from visionfit.engine.fit import RunResult, prepare, split_run, train_in_run_dir, write_run_inputs
from visionfit.engine.resumable import LAST, PREVIOUS
from visionfit.engine.trainer import create_model, quiet_lightning
from visionfit.errors import RunError
from visionfit.runs import files as run_files
from visionfit.runs.kind import is_finished
from visionfit.runs.lock import acquire_run_lock
from visionfit.tasks.registry import task_for_config

_REQUIRED_KEYS = ("state_dict", "loops", "optimizer_states", "epoch", "global_step", "callbacks")


@dataclass
class CheckpointChoice:
    path: Path | None  # None: no usable checkpoint, train from the start
    epoch: int = 0
    global_step: int = 0
    finished: bool = False  # written at the end of training: only the bundle is missing
    messages: tuple[str, ...] = ()


def inspect_checkpoint(path: Path) -> tuple[dict | None, str]:
    """Load a checkpoint safely (weights_only); (checkpoint, "") or (None, why it is unusable)."""
    if not path.exists():
        return None, "missing"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # truncated zip, not a checkpoint, unpicklable content, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, f"unreadable or truncated ({first[:120]})"
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _REQUIRED_KEYS):
        return None, "not a complete training checkpoint"
    return ckpt, ""


def find_resume_checkpoint(run_dir: str | Path) -> CheckpointChoice:
    """The newest checkpoint of `run_dir` that loads, and a line for each one that did not."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    messages: list[str] = []
    for name in (LAST, PREVIOUS):
        path = ckpt_dir / name
        ckpt, why = inspect_checkpoint(path)
        if ckpt is None:
            messages.append(f"checkpoints/{name} is {why}")
            continue
        state = ckpt.get("callbacks", {}).get("ResumeCheckpoint", {})
        return CheckpointChoice(
            path=path,
            epoch=int(ckpt["epoch"]),
            global_step=int(ckpt["global_step"]),
            finished=bool(state.get("finished", False)),
            messages=tuple(messages),
        )
    return CheckpointChoice(path=None, messages=tuple(messages))


def resume(
    run_dir: str | Path,
    *,
    progress: bool = True,
    say: Callable[[str], None] | None = None,
    callbacks: list | None = None,
    score_test: bool = True,
) -> RunResult:
    """Continue the run in `run_dir` from its newest valid checkpoint and finish it there.

    `say` receives one line per decision (which checkpoint, which fallback); default: silent.
    `callbacks` and `score_test` as in `fit`.
    """
    t_start = time.perf_counter()
    say = say or (lambda _line: None)
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run directory not found: {run_dir}")
    if not run_files.has_config(run_dir):
        raise RunError(
            f"{run_dir} has no config.yaml: it is not a visionfit run, or it was killed before "
            "it started; start a new run"
        )
    if is_finished(run_dir):
        raise RunError(f"{run_dir} is already finished (summary.json and the bundle exist)")
    quiet_lightning()
    warnings.filterwarnings("ignore", ".*exists and is not empty.*")  # it is the same run
    lock = acquire_run_lock(run_dir)
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


def _resume_locked(
    run_dir: Path, lock, *, t_start: float, progress: bool, say: Callable[[str], None], extra: dict
) -> RunResult:
    cfg = run_files.read_config(run_dir)
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
    for line in choice.messages:
        say(line)
    if choice.path is None:
        say(f"no usable checkpoint in {run_dir / 'checkpoints'}: training again from epoch 0")
    elif choice.finished:
        say(f"training had finished ({choice.path.name}); writing the bundle and summary")
    else:
        instead = " instead" if choice.messages else ""
        say(
            f"resuming {run_dir} from checkpoints/{choice.path.name}{instead} "
            f"(epoch {choice.epoch}, step {choice.global_step})"
        )
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
