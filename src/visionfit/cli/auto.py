"""`visionfit auto DATA --budget 30m`: builds the config, calls `engine.auto.run_auto`, renders
the leaderboard."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from visionfit.cli import options as o
from visionfit.cli.app import command
from visionfit.cli.configure import resolve, typed_overrides
from visionfit.cli.render import console
from visionfit.config import AUTO_DEFAULTS
from visionfit.errors import VisionfitError


@command(groups=o.TRAINING_GROUPS, defaults=AUTO_DEFAULTS)
def auto(
    ctx: typer.Context,
    budget: o.Budget = "30m",
    candidates: o.Candidates = None,
    resume: o.AutoResume = None,
) -> None:
    """The best model a time budget allows: check, baseline, timed candidates, training with a
    recipe, an ensemble if time remains; a leaderboard and a test split (default 10 %) scored
    once at the end.
    """
    from visionfit.automl.auto import run_auto
    from visionfit.config import RunConfig, parse_duration

    started = process_started_at()
    if resume is not None:
        budget_typed = getattr(ctx.get_parameter_source("budget"), "name", "") == "COMMANDLINE"
        if (
            set(typed_overrides(ctx)) - {"data.workers"}
            or ctx.params.get("config")
            or ctx.params.get("sets")
        ):
            raise VisionfitError(
                "--resume continues AUTO_DIR with its own options; drop the others"
            )
        result = run_auto(
            RunConfig(),
            parse_duration(budget) if budget_typed else 0.0,
            resume=resume,
            started_at=started,
        )
    else:
        resolved = resolve(ctx, AUTO_DEFAULTS)
        _refuse_what_auto_decides(typed_overrides(ctx))
        only = [c.strip() for c in candidates.split(",") if c.strip()] if candidates else None
        result = run_auto(
            resolved.cfg,
            parse_duration(budget),
            started_at=started,
            candidates=only,
            typed=resolved.given,
        )
    render_leaderboard(result)


# Options auto sets for each candidate run itself, and what to type instead.
AUTO_DECIDES = {"model.name": "--candidates", "train.epochs": "--budget"}


def _refuse_what_auto_decides(typed: dict[str, object]) -> None:
    for key, instead in AUTO_DECIDES.items():
        if key in typed:
            raise VisionfitError(f"auto chooses {key} for each candidate; use {instead} instead")


def process_started_at() -> float:
    """When this process started (`time.time()` scale), so that the budget counts start-up."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
        started = boot + start_ticks / ticks
        return started if 0 <= time.time() - started < 3600 else time.time()
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


def render_leaderboard(result) -> None:
    """The leaderboard as a Rich table, the best run and its test score."""
    board = result.leaderboard
    from rich.table import Table

    table = Table(title=f"leaderboard: {result.auto_dir / 'leaderboard.csv'}", title_justify="left")
    spread = board["seed_spread"].astype(bool).any() if "seed_spread" in board else False
    cols = ["", "name", "metric", "validation", "validated on", "test", "epochs", "seconds"]
    for col in cols + (["seed spread (validation)"] if spread else []):
        table.add_column(
            col, justify="right" if col in ("validation", "test", "seconds") else "left"
        )
    for _, row in board.iterrows():
        table.add_row(
            "*" if row["best"] else "",
            str(row["name"]) + ("" if row["status"] == "done" else f" ({row['status']})"),
            str(row["metric"]),
            _with_interval(row["val_score"], row.get("val_low"), row.get("val_high")),
            str(row["validated_on"]),
            _with_interval(row["test_score"], row.get("test_low"), row.get("test_high")),
            str(row["epochs"]),
            f"{row['seconds']:.0f}",
            *([str(row["seed_spread"])] if spread else []),
        )
    console.print(table)
    if result.best_run is not None:
        console.print(f"best run: {result.best_run} (also {result.auto_dir / 'best'})")
    if result.test:
        iv = result.test.get("interval") or {}
        bracket = f" [{iv['low']:.3f}, {iv['high']:.3f}]" if iv else ""
        console.print(
            f"[bold]test {result.test['metric']}: {result.test['score']:.4f}{bracket}[/] on "
            f"{result.test['n_test']} held-out images, scored once (test_scores.json)",
            highlight=False,
        )
    if board["val_low"].notna().any() if "val_low" in board else False:
        console.print(
            "[brackets]: 95 % bootstrap intervals (the validation / test images resampled; the "
            "variation from training again is the seed spread, not these)",
            highlight=False,
        )
    console.print(f"{result.seconds:.0f} s of a {result.budget_s:.0f} s budget")


def _with_interval(score, low, high) -> str:
    """`0.9525 [0.921, 0.978]`: a score and its interval, when it has one."""
    text = _fmt(score)
    if text and low is not None and high is not None and low == low and high == high:
        text += f" [{float(low):.3f}, {float(high):.3f}]"
    return text


def _fmt(v) -> str:
    try:
        return "" if v != v else f"{float(v):.4f}"  # NaN: not scored
    except (TypeError, ValueError):
        return str(v)
