"""`visionfit check` (can this data be trained on?) and `visionfit baseline` (scikit-learn)."""

from __future__ import annotations

import typer

from visionfit.cli import options as o
from visionfit.cli import render, render_check
from visionfit.cli.app import command
from visionfit.cli.configure import baseline_config, run_config
from visionfit.fileio import check_new_path, create_exclusive


@command(groups=o.CHECK_GROUPS)
def check(
    ctx: typer.Context,
    data: o.DataArg = None,
    out: o.CheckOut = None,
    threads: o.Threads = None,
    no_cache: o.NoCache = False,
    seed: o.Seed = None,
) -> None:
    """Decode every image and report unusable files, classes, sizes, modes, duplicates, leakage.

    Exit code 0 when the data can be trained on, 1 when it cannot (no usable image, an empty
    class), 2 for a wrong option or path. Nothing in DATA is written. With --task segment:
    unreadable files, image/mask size mismatches, unexpected mask values, share of empty masks.
    With --out FILE.json the near-duplicate pairs also go to FILE_near_duplicates.csv and .png.
    """
    cfg = run_config(ctx)
    if out is not None:
        check_new_path(out)
        if cfg.data.near_duplicates:
            for path in render_check.near_duplicate_files(out):
                check_new_path(path)
    render_check.print_start(cfg.data.path or cfg.data.csv)  # before the engine's slow imports
    from visionfit.tasks.check import check as check_data

    report = check_data(cfg, progress=True, use_cache=not no_cache, threads=threads)
    render_check.print_check_report(report, root=cfg.data.path or cfg.data.root)
    from visionfit.tasks.registry import get_task, task_for_config

    for name, section in report.sections.items():  # a task's own part of the report
        render.print_lines(get_task(name).render_check_section(section))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        create_exclusive(out, report.to_json())
        render.console.print(f"report written to {out}")
        if report.near_duplicates:
            render_check.write_near_duplicates(report, out)
    render_check.print_verdict(report, task_for_config(cfg).check_verdict(report))
    if not report.usable:
        raise typer.Exit(1)


@command(groups=o.BASELINE_GROUPS)
def baseline(ctx: typer.Context) -> None:
    """Cross-validate a scikit-learn classifier on resized pixels or HOG: same folds, metrics,
    oof.csv and summary table as a network's --folds run.
    """
    cfg = baseline_config(ctx)
    from visionfit.engine.baseline import run_baseline

    result = run_baseline(cfg)
    render.print_cv_summary(result)
    render.print_intervals(result)
