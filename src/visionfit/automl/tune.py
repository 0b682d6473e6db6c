"""Hyperparameter search with Optuna: each trial is a visionfit run; the study lives in SQLite.

`tune(base_cfg, options)` samples learning rate, weight decay, augmentation preset, batch size and
whatever else a search space names (model from a list, image size, epochs, any config key), trains
one run per trial, and maximises or minimises the monitored validation metric of the run's best
epoch (or its mean over K folds). Unpromising trials are pruned per epoch through Optuna's
Lightning callback (`optuna_integration.PyTorchLightningPruningCallback`, which speaks the
`lightning` 2.x namespace), or after each fold under `folds`.

`trials` is the study's total: workers run trials until the study holds that many finished
(complete or pruned) trials, counting earlier invocations and other processes. The same command
therefore resumes an interrupted study; several processes (and machines) can share one study; a
larger `trials` adds trials. The count is exact with SQLite, PostgreSQL and a journal file: a lock
(see `visionfit.automl.tune_storage`) makes "count, then start a trial" atomic across processes.
With MySQL two workers finishing at the same moment may overshoot by one.

A worker killed mid-trial leaves it RUNNING; Optuna's heartbeat marks it failed after
`_GRACE_SECONDS`, and a worker still running (or the next invocation) then fills its place.

Outputs, in `<runs_dir>/tune-<study>/` (or `out_dir`), rewritten atomically as the study grows:
`best.yaml` (a full RunConfig: `visionfit train --config best.yaml`), `trials.csv`,
`history.png` (optimisation history), `importance.png` (parameter importances), and one run
directory per trial under `trials/`.

The pieces: the search space in `tune_space`, one trial (a run or K folds) in `tune_trial`,
the files above in `tune_outputs`, the storage and its lock in `tune_storage`.

Example:
    >>> res = tune(RunConfig.from_dict({"data": {"path": "data/"}}),
    ...            TuneOptions(trials=20, storage="sqlite:///study.db", study="shapes"))
    ... # doctest: +SKIP
    >>> res.best_value, res.best_params  # doctest: +SKIP
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visionfit.automl.tune_outputs import trial_info, write_plots, write_tables
from visionfit.automl.tune_space import ALIASES, Param, default_space, load_space
from visionfit.automl.tune_storage import Lock as _Lock
from visionfit.automl.tune_storage import lock_for, open_storage, redact_url
from visionfit.automl.tune_trial import Objective, cross_val_score
from visionfit.config import RunConfig
from visionfit.errors import VisionfitError
from visionfit.runs.kind import TUNE_STORAGE

__all__ = [
    "ALIASES",
    "Param",
    "TuneOptions",
    "TuneResult",
    "cross_val_score",
    "default_space",
    "load_space",
    "tune",
]

_HEARTBEAT_SECONDS = 10
_GRACE_SECONDS = 60
_POLL_SECONDS = 2.0


@dataclass
class TuneOptions:
    trials: int  # the study's total of finished (complete or pruned) trials
    storage: str | None = None  # None: sqlite:///<out_dir>/study.db
    study: str = "visionfit"
    space: str | Path | dict | None = None
    folds: int | None = None
    pruning: bool = True
    sampler_seed: int | None = None
    out_dir: str | Path | None = None  # None: <runs_dir>/tune-<study>


@dataclass
class TuneResult:
    study: str
    storage: str
    out_dir: Path
    monitor: str
    direction: str
    ran_here: int  # trials this process ran
    counts: dict[str, int]  # trials in the study per state
    best_value: float | None
    best_params: dict[str, Any]
    best_trial: int | None
    best_run_dir: str | None
    files: dict[str, str] = field(default_factory=dict)


def tune(
    base: RunConfig,
    options: TuneOptions,
    *,
    on_trial: Callable[[dict], None] | None = None,
    on_wait: Callable[[int], None] | None = None,
) -> TuneResult:
    """Run (or resume, or join) the study until it holds `options.trials` finished trials.

    `on_trial` gets a dict per finished trial (number, state, value, params, best so far);
    `on_wait` the number of other workers' running trials when only those are left to finish.
    """
    import optuna

    from visionfit.engine.fit import prepare

    if options.trials < 1:
        raise VisionfitError(f"--trials must be at least 1, got {options.trials}")
    if options.folds is not None and options.folds < 2:
        raise VisionfitError(f"--folds must be at least 2, got {options.folds}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    # Read the data once up front: a bad path fails before any study is created, and the task
    # fixes the monitored metric and so the study's direction.
    task, resolved, _ = prepare(base, progress=False)
    monitor, mode = resolved.train.monitor, resolved.train.monitor_mode
    direction = "minimize" if mode == "min" else "maximize"
    space = load_space(options.space, base)

    out_dir = Path(options.out_dir or Path(base.runs_dir) / f"tune-{_safe(options.study)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    storage_url = options.storage or f"sqlite:///{(out_dir / TUNE_STORAGE).resolve()}"
    lock = _lock_for(storage_url)
    sampler = optuna.samplers.TPESampler(seed=options.sampler_seed)
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
        if options.pruning
        else optuna.pruners.NopPruner()
    )
    # Two workers starting at once would both create the database schema: one at a time.
    with lock.held():
        storage = _storage(storage_url)
        try:
            study = optuna.create_study(
                study_name=options.study,
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                direction=direction,
                load_if_exists=True,
            )
        except Exception as e:  # bad URL, unreadable database
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            where = redact_url(storage_url)
            raise VisionfitError(f"cannot open the Optuna storage {where}: {first}") from None
        _check_study(study, monitor, direction, options)

    trials_dir = out_dir / "trials"
    objective = Objective(base, space, monitor, trials_dir, options, task)

    def after_trial(study, frozen) -> None:
        write_tables(study, out_dir, base)
        if on_trial is not None:
            on_trial(trial_info(study, frozen, monitor))

    ran = _run_worker(study, objective, options.trials, lock, after_trial, on_wait)
    files = write_tables(study, out_dir, base)
    files.update(write_plots(study, out_dir))
    return _result(study, redact_url(storage_url), out_dir, monitor, direction, ran, files)


def _safe(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.+-]", "_", name) or "study"


def _storage(url: str):
    """The Optuna storage for `--storage` (SQLite, a database server or a journal file)."""
    return open_storage(url, heartbeat=_HEARTBEAT_SECONDS, grace=_GRACE_SECONDS)


def _check_study(study, monitor: str, direction: str, options: TuneOptions) -> None:
    attrs = study.user_attrs
    if "monitor" not in attrs:
        study.set_user_attr("monitor", monitor)
        study.set_user_attr("folds", options.folds)
        return
    if attrs["monitor"] != monitor or study.direction.name.lower() != direction:
        raise VisionfitError(
            f"study {study.study_name!r} optimises {attrs['monitor']} "
            f"({study.direction.name.lower()}), not {monitor} ({direction}): use the same "
            "--monitor to resume it, or another --study name"
        )
    if attrs.get("folds") != options.folds:
        raise VisionfitError(
            f"study {study.study_name!r} was run with --folds {attrs.get('folds')}, not "
            f"{options.folds}: its scores would not be comparable. Use another --study name."
        )


def _finished_and_running(study) -> tuple[int, int]:
    from optuna.trial import TrialState

    trials = study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    )
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return len(trials) - running, running


def _lock_for(storage_url: str) -> _Lock:
    return lock_for(storage_url)


def _run_worker(study, objective, target: int, lock: _Lock, after_trial, on_wait=None) -> int:
    """Run trials until the study holds `target` finished ones; returns how many ran here."""
    ran = 0
    told = False
    while True:
        with lock.held():
            done, running = _finished_and_running(study)
            if done >= target:
                return ran
            if done + running >= target:
                wait = True  # other workers' trials fill the rest; see whether they finish
            else:
                wait = False

                def locked_objective(trial):
                    # The trial exists in the storage now, so others count it: let them go on.
                    lock.release()
                    return objective(trial)

                study.optimize(
                    locked_objective,
                    n_trials=1,
                    callbacks=[after_trial],
                    gc_after_trial=True,
                    show_progress_bar=False,
                )
                ran += 1
        if wait:
            import optuna

            if on_wait is not None and not told:
                on_wait(running)
                told = True
            time.sleep(_POLL_SECONDS)
            optuna.storages.fail_stale_trials(study)


def _result(study, storage_url, out_dir, monitor, direction, ran, files) -> TuneResult:
    from collections import Counter

    counts = Counter(t.state.name.lower() for t in study.get_trials(deepcopy=False))
    try:
        best = study.best_trial
    except ValueError:
        best = None
    return TuneResult(
        study=study.study_name,
        storage=storage_url,
        out_dir=out_dir,
        monitor=monitor,
        direction=direction,
        ran_here=ran,
        counts=dict(counts),
        best_value=best.value if best else None,
        best_params=dict(best.params) if best else {},
        best_trial=best.number if best else None,
        best_run_dir=best.user_attrs.get("run_dir") if best else None,
        files=files,
    )
