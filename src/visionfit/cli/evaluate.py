"""`visionfit evaluate RUN DATA`: a finished run scored on labelled data (reports/evaluation.py
does the work); this prints the summary table and the folder."""

from __future__ import annotations

import typer

from visionfit.cli import options as o
from visionfit.cli import render
from visionfit.cli.app import command
from visionfit.cli.configure import parse_sets, typed_overrides
from visionfit.errors import VisionfitError


# The run says its task, label mode and channels; evaluate reads DATA as the run was trained.
@command(
    groups=(
        o.CONFIG.without("config"),
        o.DATA_GROUP.without("task", "label_mode", "in_chans"),
        o.MASKS_GROUP,
        o.PROGRESS,
    )
)
def evaluate(
    ctx: typer.Context,
    run_dir: o.RunDir,
    out: o.EvaluateOut = None,
    tta: o.Tta = None,
) -> None:
    """Score a finished run (single, K-fold ensemble, its refit/, baseline) on labelled DATA in
    any layout train reads, with the run's preprocessing, threshold, test-time flips and
    post-processing. Writes a new folder (RUN/evaluate, RUN/evaluate-2, ...): metrics.json,
    predictions.csv, per-class table, confusion matrix, ROC/PR, mistakes, predictions.png and
    report.html.
    """
    from visionfit.reports.evaluation import evaluate as run_evaluation

    overrides = {**typed_overrides(ctx), **parse_sets(ctx.params.get("sets"))}
    if not overrides.get("data.path") and not overrides.get("data.csv"):
        raise VisionfitError("no data given: visionfit evaluate RUN DATA, or --csv FILE")
    ev = run_evaluation(
        run_dir,
        overrides,
        out=out,
        tta=tta,
        progress=True,
        say=lambda line: render.err_console.print(line, highlight=False),
    )
    render.print_evaluation(ev)
