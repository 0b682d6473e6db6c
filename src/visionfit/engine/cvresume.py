"""`visionfit train --resume RUN_DIR` of a K-fold run (`train --folds K`): it continues as one.

The run's own files say what it was: `config.yaml` (its cv settings), `classes.json`,
`folds.csv` (each image's fold, written before the first fold) and `test.csv` (the rows set
aside). The data is read again as the run read it and must give the same rows; then the fold
loop runs again (engine/cv.py: `continue_cv`) keeping the finished folds, continuing the killed
one from its checkpoint and training the rest, and the out-of-fold scores, the ensemble, the
refit, the test scores, summary.json and the report are written as an uninterrupted run writes
them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from visionfit.engine.cv import CVResult, CVRun, continue_cv, set_aside_test
from visionfit.engine.fit import prepare
from visionfit.engine.foldplan import assign_folds
from visionfit.errors import RunError
from visionfit.runs import files as run_files
from visionfit.runs.lock import RunLock


def resume_cv(
    run_dir: Path, lock: RunLock, *, progress: bool, say: Callable[[str], None]
) -> CVResult:
    """Continue the K-fold run in `run_dir` (locked by `lock`, released at the end)."""
    t_start = time.perf_counter()
    try:
        run = _restore_run(run_dir, progress)
    except BaseException:
        lock.release()
        raise
    n_folds = int(run.fold.max()) + 1
    refit = " and its refit" if run.cfg.cv.refit else ""
    say(f"resuming the {n_folds}-fold run {run_dir}{refit}")
    return continue_cv(run, t_start=t_start, progress=progress, lock=lock, resume=True, say=say)


def _restore_run(run_dir: Path, progress: bool) -> CVRun:
    cfg = run_files.with_run_augment(run_dir, run_files.read_config(run_dir))
    if not cfg.cv.enabled:
        raise RunError(
            f"{run_dir / run_files.CONFIG} asks for no cross-validation but the run has a "
            f"{run_files.FOLDS}: it is damaged; start a new run"
        )
    # The data read and resolved as the run did (its notes, the task's own columns); the config
    # is the run's own, already resolved.
    task, _, data = prepare(cfg, progress=progress)
    test_df = set_aside_test(task, cfg, data)
    folds = run_files.read_folds(run_dir)
    if folds is None:  # killed before its folds were written: nothing trained, draw them
        folds, _ = assign_folds(data, cfg)
        test_rows = test_df[task.split_columns(test_df)] if len(test_df) else None
        run_files.write_run_inputs(
            run_dir, cfg, data.classes, data.skipped, folds=folds, test=test_rows
        )
    if not {"image", "fold"} <= set(folds.columns):
        raise RunError(f"{run_dir / run_files.FOLDS} lacks the image and fold columns")
    test = run_files.read_table(run_dir, run_files.TEST)
    _same_rows(run_dir, run_files.FOLDS, data.df, folds)
    _same_rows(run_dir, run_files.TEST, test_df, test)
    try:
        fold = pd.to_numeric(folds["fold"]).astype(int).to_numpy()
    except ValueError:
        where = run_dir / run_files.FOLDS
        raise RunError(f"{where}: the fold column is not whole numbers") from None
    kind = "file" if cfg.cv.folds_file else cfg.cv.kind
    return CVRun(task, cfg, data, fold, kind, test_df, run_dir)


def _same_rows(run_dir: Path, name: str, rows: pd.DataFrame, recorded: pd.DataFrame | None) -> None:
    """The data read again must give the images the run recorded in `name`, in its order."""
    now = [str(x) for x in rows["image"]]
    then = [] if recorded is None else [str(x) for x in recorded["image"]]
    if now == then:
        return
    gone = sorted(set(then) - set(now))
    new = sorted(set(now) - set(then))
    what = (
        f"{len(gone)} of its images are missing or unusable now (e.g. {gone[0]})"
        if gone
        else f"{len(new)} images were added (e.g. {new[0]})"
        if new
        else "its images come in another order"
    )
    raise RunError(
        f"the data of {run_dir} changed since the run started: {what}, so {name} no longer "
        "matches it and the run cannot be resumed exactly; restore the data, or start a new run"
    )
