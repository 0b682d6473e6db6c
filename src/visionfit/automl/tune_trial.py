"""One trial of `visionfit tune`: sample the space, train a run (or K folds), return its score."""

from __future__ import annotations

import math
from pathlib import Path

from visionfit.config import RunConfig
from visionfit.runs.kind import TRIAL_SCORES
from visionfit.runs.rundir import atomic_write_csv


class Objective:
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
    run_files.write_augment(run_dir, cfg)
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
