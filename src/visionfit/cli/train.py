"""`visionfit train`: one hold-out run, K-fold cross-validation (--folds), or --resume."""

from __future__ import annotations

from pathlib import Path

import typer

from visionfit.cli import options as o
from visionfit.cli import render
from visionfit.cli.app import command
from visionfit.cli.configure import run_config, typed_flags
from visionfit.errors import VisionfitError


# The signature is long because it lists every option of train; the body is short.
@command()
def train(
    ctx: typer.Context,
    data: o.DataArg = None,
    config: o.ConfigFile = None,
    sets: o.Sets = None,
    csv: o.Csv = None,
    root: o.Root = None,
    image_col: o.ImageCol = None,
    label_col: o.LabelCol = None,
    image_ext: o.ImageExt = None,
    task: o.Task = None,
    label_mode: o.LabelMode = None,
    val_fraction: o.ValFraction = None,
    test_fraction: o.TestFraction = None,
    split_col: o.SplitCol = None,
    in_chans: o.InChans = None,
    workers: o.Workers = None,
    cache: o.Cache = None,
    max_pixels: o.MaxPixels = None,
    model: o.Model = None,
    pretrained: o.Pretrained = None,
    weights: o.Weights = None,
    drop_rate: o.DropRate = None,
    augment: o.Augment = None,
    img_size: o.ImgSize = None,
    recipe: o.Recipe = None,
    epochs: o.Epochs = None,
    batch_size: o.BatchSize = None,
    lr: o.Lr = None,
    weight_decay: o.WeightDecay = None,
    opt: o.Opt = None,
    sched: o.Sched = None,
    warmup_epochs: o.WarmupEpochs = None,
    precision: o.Precision = None,
    label_smoothing: o.LabelSmoothing = None,
    patience: o.Patience = None,
    monitor: o.Monitor = None,
    seed: o.Seed = None,
    deterministic: o.Deterministic = None,
    accelerator: o.Accelerator = None,
    devices: o.Devices = None,
    strategy: o.Strategy = None,
    num_nodes: o.NumNodes = None,
    name: o.Name = None,
    runs_dir: o.RunsDir = None,
    checkpoint_steps: o.CheckpointSteps = None,
    checkpoint_minutes: o.CheckpointMinutes = None,
    resume: o.Resume = None,
    arch: o.Arch = None,
    encoder: o.Encoder = None,
    encoder_weights: o.EncoderWeights = None,
    width: o.Width = None,
    loss: o.Loss = None,
    num_classes: o.NumClasses = None,
    class_names: o.ClassNames = None,
    mask_suffix: o.MaskSuffix = None,
    colour_map: o.ColourMap = None,
    id_col: o.IdCol = None,
    rle_col: o.RleCol = None,
    rle_format: o.RleFormat = None,
    rle_order: o.RleOrder = None,
    tune_postprocess: o.TunePostprocess = None,
    mask_threshold: o.MaskThreshold = None,
    min_area: o.MinArea = None,
    label_cols: o.LabelCols = None,
    label_delim: o.LabelDelim = None,
    class_weights: o.ClassWeights = None,
    sampler: o.Sampler = None,
    threshold: o.Threshold = None,
    folds: o.Folds = None,
    cv: o.CvKind = None,
    group_col: o.GroupCol = None,
    folds_file: o.FoldsFile = None,
    refit: o.Refit = None,
    head: o.Head = None,
    head_dropout: o.HeadDropout = None,
    freeze: o.Freeze = None,
    finetune: o.Finetune = None,
    backbone_lr_mult: o.BackboneLrMult = None,
    logger: o.Logger = None,
    mlflow_uri: o.MlflowUri = None,
    experiment: o.Experiment = None,
) -> None:
    """Train one model and write a run directory (config, splits, metrics, checkpoints, bundle).

    With --folds K (or --folds-file): K-fold cross-validation, out-of-fold predictions and a fold
    ensemble.
    """
    if resume is not None:
        _resume(ctx, resume)
        return
    cfg = run_config(ctx, config, sets)
    from visionfit.tasks.registry import task_for_config

    if cfg.cv.enabled:
        from visionfit.engine.cv import cross_validate

        result = cross_validate(cfg)
        shown = task_for_config(cfg).render_summary(result)  # a task's own table, or none
        for item in shown:
            render.console.print(item)
        if not shown:
            render.print_cv_summary(result)
    else:
        from visionfit.engine.fit import fit

        result = fit(cfg)
        render.print_summary(result)
        for item in task_for_config(cfg).render_summary(result):
            render.console.print(item)


def _resume(ctx: typer.Context, run_dir: Path) -> None:
    """--resume RUN_DIR continues with the run's own config.yaml: any other option is refused."""
    given = typed_flags(ctx, but="resume")
    if given:
        raise VisionfitError(
            f"--resume continues a run with its own config.yaml; drop {', '.join(given)} "
            "(to change options, start a new run with --config RUN/config.yaml)"
        )
    from visionfit.engine.resume import resume

    result = resume(run_dir, say=lambda line: render.err_console.print(line, highlight=False))
    render.print_summary(result)
