"""The model, training, output, cross-validation, transfer and tracking option groups, and the
baseline's own model options (keys of BaselineConfig)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from visionfit.cli.options.base import (
    AUG,
    CV,
    LABELS,
    MODEL,
    OUTPUT,
    TRACKING,
    TRAINING,
    TRANSFER,
    config_option,
    group,
    keyed,
)
from visionfit.config import BaselineConfig

# ---- model and augmentation ----------------------------------------------------------------------
Model = Annotated[str | None, config_option("model.name", "--model", panel=MODEL)]
Pretrained = Annotated[
    bool | None,
    config_option("model.pretrained", "--pretrained/--no-pretrained", panel=MODEL),
]
Weights = Annotated[Path | None, config_option("model.weights", "--weights", panel=MODEL)]
DropRate = Annotated[float | None, config_option("model.drop_rate", "--drop-rate", panel=MODEL)]
Augment = Annotated[str | None, config_option("augment.preset", "--augment", panel=AUG)]
ImgSize = Annotated[int | None, config_option("augment.img_size", "--img-size", panel=AUG)]
# preprocessing: how an image becomes the img_size square (data/preprocess.py)
Resize = Annotated[str | None, config_option("augment.resize", "--resize", panel=AUG)]
CropScale = Annotated[str | None, config_option("augment.crop_scale", "--crop-scale", panel=AUG)]
CropPct = Annotated[float | None, config_option("augment.crop_pct", "--crop-pct", panel=AUG)]
Interpolation = Annotated[
    str | None, config_option("augment.interpolation", "--interpolation", panel=AUG)
]
Mean = Annotated[str | None, config_option("augment.mean", "--mean", panel=AUG)]
Std = Annotated[str | None, config_option("augment.std", "--std", panel=AUG)]
VFlip = Annotated[bool | None, config_option("augment.vflip", "--vflip", panel=AUG)]
Rot90 = Annotated[bool | None, config_option("augment.rot90", "--rot90", panel=AUG)]

# ---- training ----------------------------------------------------------------------------------
Recipe = Annotated[str | None, config_option("train.recipe", "--recipe", panel=TRAINING)]
Epochs = Annotated[int | None, config_option("train.epochs", "--epochs", panel=TRAINING)]
BatchSize = Annotated[int | None, config_option("train.batch_size", "--batch-size", panel=TRAINING)]
Lr = Annotated[float | None, config_option("train.lr", "--lr", panel=TRAINING)]
WeightDecay = Annotated[
    float | None, config_option("train.weight_decay", "--weight-decay", panel=TRAINING)
]
Opt = Annotated[str | None, config_option("train.opt", "--opt", panel=TRAINING)]
Sched = Annotated[str | None, config_option("train.sched", "--sched", panel=TRAINING)]
WarmupEpochs = Annotated[
    float | None, config_option("train.warmup_epochs", "--warmup-epochs", panel=TRAINING)
]
StepSize = Annotated[int | None, config_option("train.step_size", "--step-size", panel=TRAINING)]
Gamma = Annotated[float | None, config_option("train.gamma", "--gamma", panel=TRAINING)]
PlateauFactor = Annotated[
    float | None, config_option("train.plateau_factor", "--plateau-factor", panel=TRAINING)
]
PlateauPatience = Annotated[
    int | None, config_option("train.plateau_patience", "--plateau-patience", panel=TRAINING)
]
SchedMinLr = Annotated[float | None, config_option("train.min_lr", "--min-lr", panel=TRAINING)]
Momentum = Annotated[float | None, config_option("train.momentum", "--momentum", panel=TRAINING)]
Nesterov = Annotated[
    bool | None, config_option("train.nesterov", "--nesterov/--no-nesterov", panel=TRAINING)
]
ValBatchSize = Annotated[
    int | None, config_option("train.val_batch_size", "--val-batch-size", panel=TRAINING)
]
Precision = Annotated[str | None, config_option("train.precision", "--precision", panel=TRAINING)]
LabelSmoothing = Annotated[
    float | None, config_option("train.label_smoothing", "--label-smoothing", panel=TRAINING)
]
Patience = Annotated[int | None, config_option("train.patience", "--patience", panel=TRAINING)]
Monitor = Annotated[str | None, config_option("train.monitor", "--monitor", panel=TRAINING)]
Seed = Annotated[int | None, config_option("train.seed", "--seed", panel=TRAINING)]
Deterministic = Annotated[
    bool | None, config_option("train.deterministic", "--deterministic", panel=TRAINING)
]
Devices = Annotated[int | None, config_option("train.devices", "--devices", panel=TRAINING)]
Strategy = Annotated[str | None, config_option("train.strategy", "--strategy", panel=TRAINING)]
NumNodes = Annotated[int | None, config_option("train.num_nodes", "--num-nodes", panel=TRAINING)]
Accelerator = Annotated[
    str | None, config_option("train.accelerator", "--accelerator", panel=TRAINING)
]
ClassWeights = Annotated[
    str | None, config_option("train.class_weights", "--class-weights", panel=LABELS)
]
Sampler = Annotated[str | None, config_option("train.sampler", "--sampler", panel=LABELS)]
Threshold = Annotated[str | None, config_option("train.threshold", "--threshold", panel=LABELS)]
Calibrate = Annotated[str | None, config_option("train.calibrate", "--calibrate", panel=LABELS)]

# ---- output ------------------------------------------------------------------------------------
Name = Annotated[str | None, config_option("name", "--name", panel=OUTPUT)]
RunsDir = Annotated[Path | None, config_option("runs_dir", "--runs-dir", panel=OUTPUT)]
CheckpointSteps = Annotated[
    int | None, config_option("train.checkpoint_steps", "--checkpoint-steps", panel=OUTPUT)
]
CheckpointMinutes = Annotated[
    float | None,
    config_option("train.checkpoint_minutes", "--checkpoint-minutes", panel=OUTPUT),
]
Bootstrap = Annotated[int | None, config_option("train.bootstrap", "--bootstrap", panel=OUTPUT)]

# ---- cross-validation --------------------------------------------------------------------------
Folds = Annotated[int | None, config_option("cv.folds", "--folds", panel=CV)]
CvKind = Annotated[str | None, config_option("cv.kind", "--cv", panel=CV)]
GroupCol = Annotated[str | None, config_option("data.group_col", "--group-col", panel=CV)]
FoldsFile = Annotated[Path | None, config_option("cv.folds_file", "--folds-file", panel=CV)]
Refit = Annotated[bool | None, config_option("cv.refit", "--refit", panel=CV)]

# ---- transfer learning and tracking -------------------------------------------------------------
Head = Annotated[str | None, config_option("finetune.head", "--head", panel=TRANSFER)]
HeadHidden = Annotated[
    int | None, config_option("finetune.head_hidden", "--head-hidden", panel=TRANSFER)
]
HeadDropout = Annotated[
    str | None, config_option("finetune.head_dropout", "--head-dropout", panel=TRANSFER)
]
HeadInit = Annotated[str | None, config_option("finetune.head_init", "--head-init", panel=TRANSFER)]
FrozenBn = Annotated[str | None, config_option("finetune.frozen_bn", "--frozen-bn", panel=TRANSFER)]
Freeze = Annotated[str | None, config_option("finetune.freeze", "--freeze", panel=TRANSFER)]
Finetune = Annotated[
    int | None, config_option("finetune.finetune_epochs", "--finetune", panel=TRANSFER)
]
BackboneLrMult = Annotated[
    float | None,
    config_option("finetune.backbone_lr_mult", "--backbone-lr-mult", panel=TRANSFER),
]
Logger = Annotated[str | None, config_option("tracking.logger", "--logger", panel=TRACKING)]
MlflowUri = Annotated[
    str | None, config_option("tracking.mlflow_uri", "--mlflow-uri", panel=TRACKING)
]
Experiment = Annotated[
    str | None, config_option("tracking.experiment", "--experiment", panel=TRACKING)
]

# ---- the groups --------------------------------------------------------------------------------
MODEL_GROUP = group(
    "model",
    model=Model,
    pretrained=Pretrained,
    weights=Weights,
    drop_rate=DropRate,
    augment=Augment,
    img_size=ImgSize,
    vflip=VFlip,
    rot90=Rot90,
)
TRAIN_GROUP = group(
    "train",
    recipe=Recipe,
    epochs=Epochs,
    batch_size=BatchSize,
    lr=Lr,
    weight_decay=WeightDecay,
    opt=Opt,
    sched=Sched,
    warmup_epochs=WarmupEpochs,
    step_size=StepSize,
    gamma=Gamma,
    plateau_factor=PlateauFactor,
    plateau_patience=PlateauPatience,
    # lr-find's own --min-lr (where its sweep starts) takes the name there: --set train.min_lr
    min_lr=SchedMinLr,
    momentum=Momentum,
    nesterov=Nesterov,
    val_batch_size=ValBatchSize,
    precision=Precision,
    label_smoothing=LabelSmoothing,
    patience=Patience,
    monitor=Monitor,
    seed=Seed,
    deterministic=Deterministic,
    accelerator=Accelerator,
    devices=Devices,
    strategy=Strategy,
    num_nodes=NumNodes,
    class_weights=ClassWeights,
    sampler=Sampler,
    threshold=Threshold,
    calibrate=Calibrate,
    checkpoint_steps=CheckpointSteps,
    checkpoint_minutes=CheckpointMinutes,
    bootstrap=Bootstrap,
)
OUTPUT_GROUP = group("output", name=Name, runs_dir=RunsDir)
CV_GROUP = group(
    "cv", folds=Folds, cv=CvKind, group_col=GroupCol, folds_file=FoldsFile, refit=Refit
)
PREPROCESS_GROUP = group(
    "preprocess",
    resize=Resize,
    crop_scale=CropScale,
    crop_pct=CropPct,
    interpolation=Interpolation,
    mean=Mean,
    std=Std,
)
TRANSFER_GROUP = group(
    "transfer",
    head=Head,
    head_hidden=HeadHidden,
    head_dropout=HeadDropout,
    head_init=HeadInit,
    freeze=Freeze,
    frozen_bn=FrozenBn,
    finetune=Finetune,
    backbone_lr_mult=BackboneLrMult,
)
TRACKING_GROUP = group("tracking", logger=Logger, mlflow_uri=MlflowUri, experiment=Experiment)

# ---- baseline (keys of BaselineConfig) ----------------------------------------------------------
BaselineModel = Annotated[
    str | None, config_option("model", "--model", panel=MODEL, model=BaselineConfig)
]
BaselineFolds = Annotated[
    int | None,
    keyed(
        "cv.folds",
        typer.Option(
            "--folds",
            help="Number of folds (default 5, or the --folds-file's).",
            rich_help_panel=CV,
        ),
    ),
]
Size = Annotated[int | None, config_option("size", "--size", panel=MODEL, model=BaselineConfig)]
Features = Annotated[
    str | None, config_option("features", "--features", panel=MODEL, model=BaselineConfig)
]
Pca = Annotated[int | None, config_option("pca", "--pca", panel=MODEL, model=BaselineConfig)]
Jobs = Annotated[int | None, config_option("n_jobs", "--jobs", panel=MODEL, model=BaselineConfig)]
BASELINE_GROUP = group(
    "baseline",
    model=BaselineModel,
    size=Size,
    features=Features,
    pca=Pca,
    jobs=Jobs,
    folds=BaselineFolds,
    seed=Seed,
    class_weights=ClassWeights,
    threshold=Threshold,
)
