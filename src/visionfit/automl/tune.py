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

Example:
    >>> res = tune(RunConfig.from_dict({"data": {"path": "data/"}}),
    ...            TuneOptions(trials=20, storage="sqlite:///study.db", study="shapes"))
    ... # doctest: +SKIP
    >>> res.best_value, res.best_params  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from visionfit.automl.tune_storage import Lock as _Lock
from visionfit.automl.tune_storage import lock_for, open_storage, redact_url
from visionfit.config import RunConfig
from visionfit.errors import VisionfitError
from visionfit.runs.kind import TRIAL_SCORES, TUNE_STORAGE, TUNE_TRIALS
from visionfit.runs.rundir import atomic_write_bytes, atomic_write_csv, atomic_write_text

# Short names a search space may use for the common config keys.
ALIASES = {
    "lr": "train.lr",
    "weight_decay": "train.weight_decay",
    "model": "model.name",
    "img_size": "augment.img_size",
    "augment": "augment.preset",
    "batch_size": "train.batch_size",
    "epochs": "train.epochs",
    "opt": "train.opt",
    "label_smoothing": "train.label_smoothing",
    "drop_rate": "model.drop_rate",
    "head": "finetune.head",
    "finetune": "finetune.finetune_epochs",
    "backbone_lr_mult": "finetune.backbone_lr_mult",
}
_HEARTBEAT_SECONDS = 10
_GRACE_SECONDS = 60
_POLL_SECONDS = 2.0


@dataclass
class Param:
    """One dimension of the search space."""

    key: str  # dotted config key
    kind: str  # "float", "int" or "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list | None = None

    def suggest(self, trial) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.key, self.choices)
        if self.kind == "int":
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)


def default_space(base: RunConfig) -> list[Param]:
    """lr (log, a decade either side of the base lr), weight decay (log), augmentation, batch."""
    lr = base.train.lr
    return [
        Param("train.lr", "float", lr / 10, min(lr * 10, 1.0), log=True),
        Param("train.weight_decay", "float", 1e-6, 1e-2, log=True),
        Param("augment.preset", "categorical", choices=["none", "light", "medium"]),
        Param("train.batch_size", "categorical", choices=[16, 32, 64]),
    ]


def load_space(space: str | Path | dict | None, base: RunConfig) -> list[Param]:
    """Parse a search space: a YAML file or dict of `key: spec` (None: `default_space`).

    A spec is a list (categorical choices) or a mapping with `low`, `high` and optionally `log`,
    `step` and `type` (int or float; ints when `low` and `high` are both integers). Keys are dotted
    config keys (`train.lr`) or the short names in `ALIASES` (`lr`, `model`, `img_size`, ...).

        lr: {low: 1.0e-4, high: 1.0e-2, log: true}
        model: [resnet10t, efficientnet_lite0]
        img_size: [64, 96]
        epochs: {low: 3, high: 10}
    """
    if space is None:
        return default_space(base)
    origin = "search space"
    if not isinstance(space, dict):
        path = Path(space)
        origin = str(path)
        if not path.is_file():
            raise VisionfitError(f"search space file not found: {path}")
        try:
            space = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise VisionfitError(f"search space {path} is not valid YAML: {e}") from None
        if not isinstance(space, dict):
            raise VisionfitError(f"search space {path} must be a mapping of key: spec")
    params = []
    for raw_key, spec in space.items():
        key = ALIASES.get(str(raw_key), str(raw_key))
        params.append(_parse_param(key, spec, origin))
    if not params:
        raise VisionfitError(f"{origin} is empty: name at least one parameter, e.g. lr")
    # every key must exist in the config, and every choice and both ends of a range validate
    for p in params:
        values = p.choices if p.choices is not None else [p.low, p.high]
        for value in values:
            value = int(value) if p.kind == "int" else value
            try:
                base.with_overrides({p.key: value})
            except VisionfitError as e:
                raise VisionfitError(f"{origin}: {e}. Short names: {', '.join(ALIASES)}") from None
    return params


def _number(value: Any, key: str, what: str, origin: str) -> float:
    try:  # YAML 1.1 reads 1e-4 (no dot) as a string
        return float(value)
    except (TypeError, ValueError):
        raise VisionfitError(f"{origin}: {key}.{what} must be a number, got {value!r}") from None


def _parse_param(key: str, spec: Any, origin: str) -> Param:
    if isinstance(spec, list):
        if not spec:
            raise VisionfitError(f"{origin}: {key} has an empty list of choices")
        return Param(key, "categorical", choices=list(spec))
    if not isinstance(spec, dict) or "low" not in spec or "high" not in spec:
        raise VisionfitError(
            f"{origin}: {key} must be a list of choices or a mapping with low and high "
            f"(and optionally log, step, type), got {spec!r}"
        )
    unknown = set(spec) - {"low", "high", "log", "step", "type"}
    if unknown:
        raise VisionfitError(f"{origin}: {key} has unknown fields {sorted(unknown)}")
    low, high = _number(spec["low"], key, "low", origin), _number(spec["high"], key, "high", origin)
    kind = spec.get("type") or (
        "int" if all(isinstance(spec[k], int) for k in ("low", "high")) else "float"
    )
    if kind not in ("int", "float"):
        raise VisionfitError(f"{origin}: {key}.type must be int or float, got {kind!r}")
    log = bool(spec.get("log", False))
    if not low < high:
        raise VisionfitError(f"{origin}: {key} needs low < high, got {low:g} and {high:g}")
    if log and low <= 0:
        raise VisionfitError(f"{origin}: {key} is on a log scale, so low must be > 0")
    step = spec.get("step")
    step = _number(step, key, "step", origin) if step is not None else None
    return Param(key, kind, low, high, log=log, step=step)


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
    objective = _Objective(base, space, monitor, trials_dir, options, task)

    def after_trial(study, frozen) -> None:
        _write_tables(study, out_dir, base)
        if on_trial is not None:
            on_trial(_trial_info(study, frozen, monitor))

    ran = _run_worker(study, objective, options.trials, lock, after_trial, on_wait)
    files = _write_tables(study, out_dir, base)
    files.update(_write_plots(study, out_dir))
    return _result(study, redact_url(storage_url), out_dir, monitor, direction, ran, files)


class _Objective:
    def __init__(self, base, space, monitor, trials_dir, options, task):
        self.base, self.space, self.monitor = base, space, monitor
        self.trials_dir, self.options, self.task = trials_dir, options, task

    def __call__(self, trial) -> float:
        import optuna

        overrides = {p.key: p.suggest(trial) for p in self.space}
        cfg = self.base.with_overrides(
            {**overrides, "name": f"trial{trial.number:04d}", "runs_dir": str(self.trials_dir)}
        )
        trial.set_user_attr("config", cfg.model_dump(mode="json"))
        if self.options.folds:
            value, run_dir = cross_val_score(cfg, self.options.folds, self.monitor, trial)
        else:
            from visionfit.engine.fit import fit

            callbacks = []
            if self.options.pruning:
                from optuna_integration import PyTorchLightningPruningCallback

                callbacks.append(PyTorchLightningPruningCallback(trial, monitor=self.monitor))
            result = fit(cfg, progress=False, callbacks=callbacks, score_test=False)
            run_dir = result.run_dir
            trial.set_user_attr("run_dir", str(run_dir))
            trial.set_user_attr("best_epoch", result.best_epoch)
            value = result.best_metrics.get(self.monitor)
        trial.set_user_attr("run_dir", str(run_dir))
        if value is None or not math.isfinite(value):
            raise optuna.TrialPruned(f"{self.monitor} is {value} (diverged or never measured)")
        return float(value)


def cross_val_score(cfg: RunConfig, folds: int, monitor: str, trial=None) -> tuple[float, Path]:
    """Mean of the monitored metric's best-epoch value over K folds.

    The engine's own fold loop (`engine/cv.py:run_folds`) on the same scanned data and fold
    assignment as `visionfit train --folds K` (folds.csv is written), with fold directories
    under one trial directory. With a `trial`, the running mean is reported after each fold so
    that the pruner can stop a poor trial early.
    """
    import optuna

    from visionfit.engine.cv import assign_folds, run_folds, set_aside_test
    from visionfit.engine.fit import prepare
    from visionfit.runs import files as run_files
    from visionfit.runs.rundir import create_run_dir

    task, cfg, data = prepare(cfg.with_overrides({"cv.folds": folds}), progress=False)
    set_aside_test(task, cfg, data)  # tuning never sees the test split
    table, _ = assign_folds(data, cfg)
    run_dir = create_run_dir(cfg.runs_dir, cfg.name or task.run_name(cfg))
    run_files.write_config(run_dir, cfg)
    run_files.write_folds(run_dir, table)
    scores: list[dict] = []

    def on_fold(k, split, val_idx, fold_dir) -> str:
        value = split.best_metrics.get(monitor, float("nan"))
        scores.append({"fold": k, "best_epoch": split.best_epoch, monitor: value})
        atomic_write_csv(run_dir / TRIAL_SCORES, _frame(scores))
        mean = sum(s[monitor] for s in scores) / len(scores)
        if trial is not None:
            trial.report(mean, step=k)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {k}: mean {monitor} {mean:.4f}")
        return f"{monitor} {value:.4f}"

    run_folds(task, cfg, data, table["fold"].to_numpy(), run_dir, progress=False, on_fold=on_fold)
    return sum(s[monitor] for s in scores) / len(scores), run_dir


def _frame(rows):
    import pandas as pd

    return pd.DataFrame(rows)


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


def _trial_info(study, frozen, monitor: str) -> dict:
    import optuna

    try:
        best = study.best_trial
        best_value, best_number = best.value, best.number
    except ValueError:
        best_value, best_number = None, None
    return {
        "number": frozen.number,
        "state": frozen.state.name.lower(),
        "value": frozen.value,
        "params": frozen.params,
        "monitor": monitor,
        "best_value": best_value,
        "best_trial": best_number,
        "seconds": (frozen.duration.total_seconds() if frozen.duration else None),
        "finished": len(
            study.get_trials(
                deepcopy=False,
                states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED),
            )
        ),
    }


def _write_tables(study, out_dir: Path, base: RunConfig) -> dict[str, str]:
    files: dict[str, str] = {}
    df = study.trials_dataframe(attrs=("number", "value", "state", "duration", "params"))
    run_dirs = {t.number: t.user_attrs.get("run_dir") for t in study.get_trials(deepcopy=False)}
    df["run_dir"] = df["number"].map(run_dirs)
    if "duration" in df:
        df["seconds"] = df.pop("duration").dt.total_seconds().round(1)
    df = df.rename(columns={c: c.removeprefix("params_") for c in df.columns})
    atomic_write_csv(out_dir / TUNE_TRIALS, df)
    files["trials"] = str(out_dir / TUNE_TRIALS)
    try:
        best = study.best_trial
    except ValueError:  # no complete trial yet
        return files
    raw = dict(best.user_attrs.get("config") or {})
    if raw:
        raw["name"] = f"{study.study_name}-best"
        raw["runs_dir"] = base.runs_dir
        cfg = RunConfig.from_dict(raw, origin=f"trial {best.number}'s config")
        header = (
            f"# best trial {best.number} of Optuna study {study.study_name!r}: "
            f"{study.user_attrs.get('monitor')} = {best.value:.6g}\n"
            f"# params: {json.dumps(best.params)}\n"
            "# rerun: visionfit train --config best.yaml\n"
        )
        atomic_write_text(out_dir / "best.yaml", header + cfg.to_yaml())
        files["best"] = str(out_dir / "best.yaml")
    return files


def _write_plots(study, out_dir: Path) -> dict[str, str]:
    """Optimisation history and parameter importances (Optuna's matplotlib backend)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as ovm

    files: dict[str, str] = {}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return files
    plots = [("history", ovm.plot_optimization_history)]
    varied = {
        k for t in complete for k in t.params if len({str(u.params.get(k)) for u in complete}) > 1
    }
    if len(complete) >= 2 and varied:
        plots.append(("importance", ovm.plot_param_importances))
    for name, plot in plots:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = plot(study)
            fig = ax.figure if hasattr(ax, "figure") else ax[0].figure
            fig.set_size_inches(7, 4.5)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=100)
            plt.close(fig)
        except Exception:  # importance needs spread in the scores; a flat study has none
            plt.close("all")
            continue
        atomic_write_bytes(out_dir / f"{name}.png", buf.getvalue())
        files[name] = str(out_dir / f"{name}.png")
    return files


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
