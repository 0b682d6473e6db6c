"""`visionfit train`: one hold-out run, K-fold cross-validation (--folds), or --resume (of
either: the run continues as what it was)."""

from __future__ import annotations

from pathlib import Path

import typer

from visionfit.cli import options as o
from visionfit.cli import render
from visionfit.cli.app import command
from visionfit.cli.configure import run_config, typed_flags
from visionfit.errors import VisionfitError


@command(groups=(*o.TRAINING_GROUPS, o.CV_GROUP))
def train(ctx: typer.Context, resume: o.Resume = None) -> None:
    """Train one model and write a run directory (config, splits, metrics, checkpoints, bundle).

    With --folds K (or --folds-file): K-fold cross-validation, out-of-fold predictions and a fold
    ensemble.
    """
    if resume is not None:
        _resume(ctx, resume)
        return
    cfg = run_config(ctx)
    if cfg.cv.enabled:
        from visionfit.engine.cv import cross_validate

        _print_result(cfg, cross_validate(cfg))
    else:
        from visionfit.engine.fit import fit

        _print_result(cfg, fit(cfg))


def _print_result(cfg, result) -> None:
    """A K-fold run's table (the task's own, or the common one), or a hold-out run's summary."""
    from visionfit.engine.cv import CVResult
    from visionfit.tasks.registry import task_for_config

    shown = task_for_config(cfg).render_summary(result)  # a task's own table, or none
    if isinstance(result, CVResult):
        for item in shown:
            render.console.print(item)
        if not shown:
            render.print_cv_summary(result)
        render.print_cv_test(result)
        render.print_intervals(result)
        return
    render.print_summary(result)
    for item in shown:
        render.console.print(item)
    render.print_intervals(result)


def _resume(ctx: typer.Context, run_dir: Path) -> None:
    """--resume RUN_DIR continues with the run's own config.yaml: any other option is refused."""
    given = typed_flags(ctx, but="resume")
    if given:
        raise VisionfitError(
            f"--resume continues a run with its own config.yaml; drop {', '.join(given)} "
            "(to change options, start a new run with --config RUN/config.yaml)"
        )
    from visionfit.engine.resume import resume
    from visionfit.runs.files import read_config

    result = resume(run_dir, say=lambda line: render.err_console.print(line, highlight=False))
    _print_result(read_config(run_dir), result)
