"""The `visionfit` command line: builds configs, calls engine functions, prints results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from visionfit.errors import VisionfitError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="From a folder of images to a validated model, its report and predictions.",
)
console = Console()
err_console = Console(stderr=True)

# CLI option -> dotted config key. Only options given on the command line override --config.
TRAIN_OPTIONS = {
    "data": "data.path",
    "csv": "data.csv",
    "root": "data.root",
    "image_col": "data.image_col",
    "label_col": "data.label_col",
    "image_ext": "data.image_ext",
    "task": "data.task",
    "val_fraction": "data.val_fraction",
    "in_chans": "data.in_chans",
    "workers": "data.workers",
    "model": "model.name",
    "pretrained": "model.pretrained",
    "weights": "model.weights",
    "drop_rate": "model.drop_rate",
    "augment": "augment.preset",
    "img_size": "augment.img_size",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "weight_decay": "train.weight_decay",
    "opt": "train.opt",
    "sched": "train.sched",
    "warmup_epochs": "train.warmup_epochs",
    "precision": "train.precision",
    "label_smoothing": "train.label_smoothing",
    "patience": "train.patience",
    "monitor": "train.monitor",
    "seed": "train.seed",
    "deterministic": "train.deterministic",
    "accelerator": "train.accelerator",
    "name": "name",
    "runs_dir": "runs_dir",
    "max_pixels": "data.max_pixels",
    "checkpoint_steps": "train.checkpoint_steps",
    "checkpoint_minutes": "train.checkpoint_minutes",
}


def _given(ctx: typer.Context, names) -> dict[str, object]:
    """The options the user actually typed, mapped to config keys."""
    out = {}
    for name in names:
        src = ctx.get_parameter_source(name)
        # Compare by name: typer may ship its own copy of click's ParameterSource enum.
        if getattr(src, "name", "") in ("COMMANDLINE", "ENVIRONMENT"):
            value = ctx.params[name]
            if isinstance(value, Path):
                value = str(value)
            if name in ("patience", "checkpoint_minutes") and value == 0:
                value = None
            out[TRAIN_OPTIONS[name]] = value
    return out


@app.command()
def train(
    ctx: typer.Context,
    data: Optional[Path] = typer.Argument(
        None, help="Image folder: DATA/<class>/* or DATA/train|val/<class>/*."
    ),
    config: Optional[Path] = typer.Option(
        None,
        "--config",
        help="A config.yaml (e.g. a run's) to start from; other options override it.",
    ),
    csv: Optional[Path] = typer.Option(
        None, help="CSV of image paths and labels instead of folders.", rich_help_panel="Data"
    ),
    root: Optional[Path] = typer.Option(
        None,
        help="Folder the CSV's paths are relative to (default: the CSV's folder).",
        rich_help_panel="Data",
    ),
    image_col: str = typer.Option(
        "image", help="CSV column with image paths or ids.", rich_help_panel="Data"
    ),
    label_col: str = typer.Option(
        "label", help="CSV column with labels (strings or integers).", rich_help_panel="Data"
    ),
    image_ext: Optional[str] = typer.Option(
        None, help="Extension for ids without one, e.g. .png.", rich_help_panel="Data"
    ),
    task: str = typer.Option(
        "auto",
        help="auto (binary for 2 classes, else multiclass) | binary | multiclass.",
        rich_help_panel="Data",
    ),
    val_fraction: float = typer.Option(
        0.2, help="Stratified hold-out share when no val split is given.", rich_help_panel="Data"
    ),
    in_chans: int = typer.Option(
        3, help="Input channels: 3 (RGB) or 1 (grayscale).", rich_help_panel="Data"
    ),
    workers: Optional[int] = typer.Option(
        None, help="DataLoader workers (default: auto).", rich_help_panel="Data"
    ),
    model: str = typer.Option(
        "simple_cnn", help="simple_cnn, alexnet or any timm model name.", rich_help_panel="Model"
    ),
    pretrained: bool = typer.Option(
        False,
        "--pretrained/--no-pretrained",
        help="Start from pretrained weights (timm models).",
        rich_help_panel="Model",
    ),
    weights: Optional[Path] = typer.Option(
        None,
        help="Local .pth/.safetensors state dict; a head of another shape is skipped.",
        rich_help_panel="Model",
    ),
    drop_rate: float = typer.Option(
        0.0, help="Dropout before the classifier.", rich_help_panel="Model"
    ),
    augment: str = typer.Option(
        "light",
        help="Augmentation preset: none | light | medium | heavy.",
        rich_help_panel="Augmentation",
    ),
    img_size: int = typer.Option(
        64, help="Images are resized to this square size.", rich_help_panel="Augmentation"
    ),
    epochs: int = typer.Option(10, help="Maximum epochs.", rich_help_panel="Training"),
    batch_size: int = typer.Option(32, help="Batch size.", rich_help_panel="Training"),
    lr: float = typer.Option(1e-3, help="Peak learning rate.", rich_help_panel="Training"),
    weight_decay: float = typer.Option(1e-4, help="Weight decay.", rich_help_panel="Training"),
    opt: str = typer.Option("adamw", help="adamw | adam | sgd.", rich_help_panel="Training"),
    sched: str = typer.Option(
        "cosine", help="cosine (with warm-up) | step | plateau | none.", rich_help_panel="Training"
    ),
    warmup_epochs: float = typer.Option(
        1.0,
        help="Linear warm-up epochs for cosine (at most 10% of the run).",
        rich_help_panel="Training",
    ),
    precision: str = typer.Option(
        "32", help="32 | bf16-mixed | 16-mixed.", rich_help_panel="Training"
    ),
    label_smoothing: float = typer.Option(
        0.0, help="Label smoothing for multi-class cross-entropy.", rich_help_panel="Training"
    ),
    patience: int = typer.Option(
        5, help="Early-stopping patience in epochs (0: off).", rich_help_panel="Training"
    ),
    monitor: str = typer.Option(
        "auto",
        help="Metric for early stopping and the best checkpoint (auto: val_loss, minimised).",
        rich_help_panel="Training",
    ),
    seed: int = typer.Option(
        42, help="Random seed (split, init, shuffling, augmentation).", rich_help_panel="Training"
    ),
    deterministic: bool = typer.Option(
        False, "--deterministic", help="Use deterministic algorithms.", rich_help_panel="Training"
    ),
    accelerator: str = typer.Option(
        "auto", help="auto | cpu | gpu | mps.", rich_help_panel="Training"
    ),
    name: Optional[str] = typer.Option(
        None, help="Run name prefix (default: the model name).", rich_help_panel="Output"
    ),
    runs_dir: Path = typer.Option(
        Path("runs"), help="Where run directories are created.", rich_help_panel="Output"
    ),
    max_pixels: int = typer.Option(
        64_000_000,
        help="Refuse images with more pixels (width*height) as 'too many pixels'; at most Pillow's own limit (89,478,485).",
        rich_help_panel="Data",
    ),
    checkpoint_steps: Optional[int] = typer.Option(
        None,
        help="Also write checkpoints/last.ckpt every N training steps (mid-epoch).",
        rich_help_panel="Output",
    ),
    checkpoint_minutes: float = typer.Option(
        10.0,
        help="Also write checkpoints/last.ckpt when this many minutes passed since the last (0: off).",
        rich_help_panel="Output",
    ),
    resume: Optional[Path] = typer.Option(
        None,
        "--resume",
        help="Continue a killed run in its own directory, from its newest valid checkpoint; takes no other options.",
        rich_help_panel="Output",
    ),
) -> None:
    """Train one model and write a run directory (config, splits, metrics, checkpoints, bundle)."""
    from visionfit.config import RunConfig
    from visionfit.engine.fit import fit

    if resume is not None:
        _resume(ctx, resume, data, config)
        return
    base = RunConfig.from_yaml(config) if config else RunConfig()
    cfg = base.with_overrides(_given(ctx, TRAIN_OPTIONS))
    if not cfg.data.path and not cfg.data.csv:
        raise VisionfitError("no data given: visionfit train DATA, or --csv train.csv --root DIR")
    result = fit(cfg)
    _print_summary(result)


def _print_summary(result) -> None:
    table = Table(title=f"run {result.run_dir}", show_header=False, title_justify="left")
    table.add_row("task", f"{result.task}, {len(result.classes)} classes")
    table.add_row("images", f"{result.n_train} train / {result.n_val} val")
    table.add_row("weights", result.weights_source)
    table.add_row("monitored", result.monitor)
    table.add_row("best epoch", str(result.best_epoch))
    for key, value in result.best_metrics.items():
        if key.startswith("val_"):
            table.add_row(key, f"{value:.4f}")
    table.add_row("files skipped", str(result.skipped_files))
    table.add_row("time", f"{result.seconds:.1f} s")
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


def _resume(ctx: typer.Context, run_dir: Path, data, config) -> None:
    from visionfit.engine.resume import resume

    given = [
        "DATA" if name == "data" else "--" + name.replace("_", "-")
        for name in TRAIN_OPTIONS
        if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"
    ]
    if config is not None:
        given.append("--config")
    if given:
        raise VisionfitError(
            f"--resume continues a run with its own config.yaml; drop {', '.join(given)} "
            "(to change options, start a new run with --config RUN/config.yaml)"
        )
    result = resume(run_dir, say=lambda line: err_console.print(line, highlight=False))
    _print_summary(result)


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="A finished run directory."),
    inputs: list[Path] = typer.Argument(
        ..., help="Image files, folders (searched recursively) or CSVs."
    ),
    out: Path = typer.Option(Path("predictions.csv"), "--out", "-o", help="CSV to write."),
    batch_size: int = typer.Option(64, help="Batch size."),
    tta: bool = typer.Option(False, "--tta", help="Average with the horizontally flipped image."),
    image_col: str = typer.Option("image", help="Column with image paths in input CSVs."),
    root: Optional[Path] = typer.Option(None, help="Folder the input CSV's paths are relative to."),
    max_pixels: Optional[int] = typer.Option(
        None, help="Refuse larger images (width*height); default: the run's --max-pixels."
    ),
) -> None:
    """Predict classes and probabilities; writes a CSV with image, pred, prob_<class>..."""
    from visionfit.engine.predict import expand_inputs, load

    predictor = load(run_dir)
    if max_pixels is not None:
        predictor.max_pixels = max_pixels
    paths = expand_inputs(inputs, image_col=image_col, root=root)
    if out.exists():
        raise VisionfitError(f"{out} exists; choose another --out (files are never overwritten)")
    df = predictor.predict(paths, batch_size=batch_size, tta=tta)
    out.parent.mkdir(parents=True, exist_ok=True)
    from visionfit.engine.rundir import atomic_write_csv

    atomic_write_csv(out, df)
    n_bad = int((df["pred"] == "").sum())
    counts = df.loc[df["pred"] != "", "pred"].value_counts().to_dict()
    console.print(f"wrote {len(df)} predictions to {out}; per class: {counts}")
    if n_bad:
        err_console.print(f"[yellow]{n_bad} inputs could not be read; see the error column[/]")


@app.command()
def demo(
    runs_dir: Path = typer.Option(Path("runs"), help="Where the demo's run directory is created."),
    epochs: int = typer.Option(15, help="Training epochs."),
) -> None:
    """Train simple_cnn on scikit-learn's handwritten digits and score a held-out test set."""
    from visionfit.engine.demo import run_demo

    res = run_demo(str(runs_dir), epochs=epochs)
    _print_summary(res.run)
    console.print(
        f"[bold]held-out test accuracy: {res.test_accuracy:.4f}[/] on {res.n_test} images "
        f"(data in {res.data_dir})\nrun directory: {res.run.run_dir}"
    )


@app.command()
def models(pattern: str = typer.Argument("*", help="Glob, e.g. 'resnet*'.")) -> None:
    """List model names: built-ins first, then timm's."""
    from visionfit.models.factory import list_models

    names = list_models(pattern)
    console.print("\n".join(names) if names else f"no model matches {pattern!r}")


CHECK_OPTIONS = (
    "data",
    "csv",
    "root",
    "image_col",
    "label_col",
    "image_ext",
    "val_fraction",
    "seed",
    "max_pixels",
)


@app.command()
def check(
    ctx: typer.Context,
    data: Optional[Path] = typer.Argument(
        None, help="Image folder: DATA/<class>/* or DATA/train|val/<class>/*."
    ),
    config: Optional[Path] = typer.Option(
        None, "--config", help="Take the data options from a config.yaml (e.g. a run's)."
    ),
    csv: Optional[Path] = typer.Option(None, help="CSV of image paths and labels."),
    root: Optional[Path] = typer.Option(
        None, help="Folder the CSV's paths are relative to (default: the CSV's folder)."
    ),
    image_col: str = typer.Option("image", help="CSV column with image paths or ids."),
    label_col: str = typer.Option("label", help="CSV column with labels."),
    image_ext: Optional[str] = typer.Option(None, help="Extension for ids without one."),
    val_fraction: float = typer.Option(
        0.2, help="Hold-out share, to find duplicates that train would put on both sides."
    ),
    seed: int = typer.Option(42, help="Seed of that hold-out split (as in train)."),
    max_pixels: int = typer.Option(
        64_000_000, help="Refuse images with more pixels (width*height), as train does."
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Write the full report as JSON (never overwrites a file)."
    ),
    threads: Optional[int] = typer.Option(None, help="Decoding threads (default: up to 8)."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Decode every file again instead of reusing the scan cache."
    ),
) -> None:
    """Decode every image and report unusable files, classes, sizes, modes, duplicates, leakage.

    Exit code 0 when the data can be trained on, 1 when it cannot (no usable image, an empty
    class), 2 for a wrong option or path. Nothing in DATA is written.
    """
    from visionfit.config import RunConfig
    from visionfit.data.check import check_dataset, render_report

    base = RunConfig.from_yaml(config) if config else RunConfig()
    cfg = base.with_overrides(_given(ctx, CHECK_OPTIONS))
    if not cfg.data.path and not cfg.data.csv:
        raise VisionfitError("no data given: visionfit check DATA, or --csv train.csv --root DIR")
    if out is not None and out.exists():
        raise VisionfitError(f"{out} exists; choose another --out (files are never overwritten)")
    report = check_dataset(
        cfg.data,
        seed=cfg.train.seed,
        progress=True,
        use_cache=not no_cache,
        threads=threads,
    )
    render_report(report, console, root=cfg.data.path or cfg.data.root)
    if out is not None:
        from visionfit.engine.rundir import atomic_write_text

        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, report.to_json())
        console.print(f"report written to {out}")
    if not report.usable:
        err_console.print(
            f"[bold red]data not usable:[/] {'; '.join(report.problems)}", highlight=False
        )
        raise typer.Exit(1)
    n_classes = sum(1 for n in report.classes.values() if n)
    console.print(
        f"[green]data usable:[/] {report.counts['usable']} images in {n_classes} classes"
        + (
            f", {report.counts['bad']} unusable files left out by train"
            if report.counts["bad"]
            else ""
        ),
        highlight=False,
    )


def main() -> None:
    try:
        app()
    except VisionfitError as e:
        # escape: a path in the message may hold [brackets]; surrogates: non-UTF-8 file names
        text = str(e).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        err_console.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
