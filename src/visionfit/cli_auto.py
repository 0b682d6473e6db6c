"""`visionfit auto DATA --budget 30m`: builds the config, calls `engine.auto.run_auto`, renders
the leaderboard. Registered on the app by `register(app)`."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from visionfit.errors import VisionfitError

console = Console()

# option -> config key; only options typed on the command line override the config
AUTO_OPTIONS = {
    "data": "data.path",
    "csv": "data.csv",
    "root": "data.root",
    "image_col": "data.image_col",
    "label_col": "data.label_col",
    "image_ext": "data.image_ext",
    "task": "data.task",
    "in_chans": "data.in_chans",
    "val_fraction": "data.val_fraction",
    "test_fraction": "data.test_fraction",
    "split_col": "data.split_col",
    "workers": "data.workers",
    "recipe": "train.recipe",
    "batch_size": "train.batch_size",
    "seed": "train.seed",
    "runs_dir": "runs_dir",
    "name": "name",
}


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


def auto(
    ctx: typer.Context,
    data: Optional[Path] = typer.Argument(None, help="Image folder (as for train)."),
    budget: str = typer.Option(
        "30m", "--budget", help="Wall-clock budget of the whole command: 90s, 30m, 2h, 1h30m."
    ),
    csv: Optional[Path] = typer.Option(None, help="CSV of image paths and labels."),
    root: Optional[Path] = typer.Option(None, help="Folder the CSV's paths are relative to."),
    image_col: str = typer.Option("image", help="CSV column with image paths or ids."),
    label_col: str = typer.Option("label", help="CSV column with labels."),
    image_ext: Optional[str] = typer.Option(None, help="Extension for ids without one."),
    task: str = typer.Option(
        "auto", help="auto | binary | multiclass | multilabel | soft | segment."
    ),
    in_chans: int = typer.Option(3, help="Input channels: 3 (RGB) or 1 (grayscale)."),
    val_fraction: float = typer.Option(0.2, help="Validation share when none is given."),
    test_fraction: float = typer.Option(
        0.1,
        help="Test share kept out and scored once at the end (0: none; DATA/test/ or --split-col give one).",
    ),
    split_col: Optional[str] = typer.Option(None, help="CSV column of train / val / test."),
    workers: Optional[int] = typer.Option(None, help="DataLoader workers (default: auto)."),
    recipe: str = typer.Option("default", help="Training recipe: fast | default | best."),
    batch_size: int = typer.Option(32, help="Batch size."),
    seed: int = typer.Option(42, help="Seed of the split and the first training."),
    runs_dir: Path = typer.Option(Path("runs"), help="Where AUTO_DIR is made."),
    name: Optional[str] = typer.Option(None, help="AUTO_DIR name prefix (default: auto)."),
    candidates: Optional[str] = typer.Option(
        None,
        help="Only these candidate networks (name prefixes, comma-separated), e.g. simple_cnn,efficientnet_lite0.",
    ),
    resume: Optional[Path] = typer.Option(
        None,
        "--resume",
        help="Continue a killed AUTO_DIR: finished stages are kept (--budget: this call's budget; default: what was left).",
    ),
) -> None:
    """The best model a time budget allows: check, baseline, timed candidates, training with a
    recipe, an ensemble if time remains; a leaderboard and a test split scored once."""
    from visionfit.config import RunConfig, parse_duration
    from visionfit.engine.auto import run_auto

    started = process_started_at()
    given = _given(ctx)
    if resume is not None:
        budget_given = getattr(ctx.get_parameter_source("budget"), "name", "") == "COMMANDLINE"
        if set(given) - {"data.workers"}:
            raise VisionfitError(
                "--resume continues AUTO_DIR with its own options; drop the others"
            )
        result = run_auto(
            RunConfig(),
            parse_duration(budget) if budget_given else 0.0,
            resume=resume,
            started_at=started,
        )
    else:
        cfg = RunConfig().with_overrides(
            {"data.test_fraction": test_fraction, "train.recipe": recipe, **given}
        )
        if not cfg.data.path and not cfg.data.csv:
            raise VisionfitError("no data given: visionfit auto DATA, or --csv FILE --root DIR")
        only = [c.strip() for c in candidates.split(",") if c.strip()] if candidates else None
        result = run_auto(cfg, parse_duration(budget), started_at=started, candidates=only)
    render_leaderboard(result)


def _given(ctx: typer.Context) -> dict:
    out = {}
    for option, key in AUTO_OPTIONS.items():
        if getattr(ctx.get_parameter_source(option), "name", "") in ("COMMANDLINE", "ENVIRONMENT"):
            value = ctx.params[option]
            out[key] = str(value) if isinstance(value, Path) else value
    return out


def render_leaderboard(result) -> None:
    """The leaderboard as a Rich table, the best run and its test score."""
    board = result.leaderboard
    table = Table(title=f"leaderboard: {result.auto_dir / 'leaderboard.csv'}", title_justify="left")
    for col in ("", "name", "metric", "validation", "validated on", "test", "epochs", "seconds"):
        table.add_column(
            col, justify="right" if col in ("validation", "test", "seconds") else "left"
        )
    for _, row in board.iterrows():
        table.add_row(
            "*" if row["best"] else "",
            str(row["name"]) + ("" if row["status"] == "done" else f" ({row['status']})"),
            str(row["metric"]),
            _fmt(row["val_score"]),
            str(row["validated_on"]),
            _fmt(row["test_score"]),
            str(row["epochs"]),
            f"{row['seconds']:.0f}",
        )
    console.print(table)
    if result.best_run is not None:
        console.print(f"best run: {result.best_run} (also {result.auto_dir / 'best'})")
    if result.test:
        console.print(
            f"[bold]test {result.test['metric']}: {result.test['score']:.4f}[/] on "
            f"{result.test['n_test']} held-out images, scored once (test_scores.json)"
        )
    console.print(f"{result.seconds:.0f} s of a {result.budget_s:.0f} s budget")


def _fmt(v) -> str:
    try:
        return "" if v != v else f"{float(v):.4f}"  # NaN: not scored
    except (TypeError, ValueError):
        return str(v)


def register(app: typer.Typer) -> None:
    app.command("auto")(auto)
