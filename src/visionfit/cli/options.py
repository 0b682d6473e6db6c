"""Every command-line option, declared once as a typed `Annotated` alias.

An option that sets a config value is built by `config_option(KEY, ...)`: its help text is the
pydantic field's description and its shown default the field's default (visionfit/config.py), and
it carries KEY, so `configure.typed_overrides` knows where a typed value goes. The Python default
of such a parameter is always None: what was not typed comes from `--config` or the config model,
never from a second copy of the default here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from typer.models import OptionInfo

from visionfit.config import BaselineConfig, RunConfig

DATA, MODEL, AUG, TRAINING, OUTPUT = "Data", "Model", "Augmentation", "Training", "Output"
SEGMENT, LABELS, CV, TRANSFER, TRACKING = (
    "Segmentation",
    "Labels and imbalance",
    "Cross-validation",
    "Transfer learning",
    "Tracking",
)


def config_field(key: str, model: type[BaseModel] = RunConfig) -> tuple[str, object]:
    """(description, default) of a dotted config key, e.g. 'train.epochs'."""
    *parents, leaf = key.split(".")
    node: BaseModel = model()
    for part in parents:
        node = getattr(node, part)
    field = type(node).model_fields[leaf]
    if not field.description:
        raise KeyError(f"config field {key} needs a description: it is an option's help text")
    return field.description, getattr(node, leaf)


def _shown(default: object, decls: tuple[str, ...]) -> str | None:
    """The default as --help shows it, or None to show none."""
    if default is None or (default is False and "/" not in decls[0]):
        return None
    if isinstance(default, bool):  # --x/--no-x: name the side that is the default
        on, off = decls[0].split("/")
        return (on if default else off).lstrip("-")
    return str(default)


def config_option(
    key: str,
    *decls: str,
    panel: str | None = None,
    model: type[BaseModel] = RunConfig,
) -> OptionInfo:
    """A typer option for config KEY, with the field's description and default as its help."""
    help_text, default = config_field(key, model)
    # The parameter's own default is None (= not typed), so the config's default is shown as a
    # string, which typer puts in parentheses: [default: (10)].
    shown = _shown(default, decls)
    info = typer.Option(*decls, help=help_text, show_default=shown or False, rich_help_panel=panel)
    return keyed(key, info, model)


def keyed(key: str, info, model: type[BaseModel] = RunConfig):
    """A typer option or argument whose typed value goes to config KEY (of MODEL)."""
    info.config_key, info.config_model = key, model
    return info


# ---- where the config comes from -----------------------------------------------------------------
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config", help="A config.yaml (e.g. a run's) to start from; typed options override it."
    ),
]
Sets = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Any dotted config key, e.g. --set train.opt=sgd (a YAML value; repeatable; applied "
        "last).",
    ),
]

# ---- data --------------------------------------------------------------------------------------
DataArg = Annotated[
    Path | None,
    keyed("data.path", typer.Argument(help=config_field("data.path")[0], show_default=False)),
]
Csv = Annotated[Path | None, config_option("data.csv", "--csv", panel=DATA)]
Root = Annotated[Path | None, config_option("data.root", "--root", panel=DATA)]
ImageCol = Annotated[str | None, config_option("data.image_col", "--image-col", panel=DATA)]
LabelCol = Annotated[str | None, config_option("data.label_col", "--label-col", panel=DATA)]
ImageExt = Annotated[str | None, config_option("data.image_ext", "--image-ext", panel=DATA)]
Task = Annotated[str | None, config_option("data.task", "--task", panel=DATA)]
LabelMode = Annotated[str | None, config_option("data.label_mode", "--label-mode", panel=DATA)]
TestFraction = Annotated[
    float | None, config_option("data.test_fraction", "--test-fraction", panel=DATA)
]
SplitCol = Annotated[str | None, config_option("data.split_col", "--split-col", panel=DATA)]
Recipe = Annotated[str | None, config_option("train.recipe", "--recipe", panel=TRAINING)]
ValFraction = Annotated[
    float | None, config_option("data.val_fraction", "--val-fraction", panel=DATA)
]
InChans = Annotated[int | None, config_option("data.in_chans", "--in-chans", panel=DATA)]
Workers = Annotated[int | None, config_option("data.workers", "--workers", panel=DATA)]
Cache = Annotated[str | None, config_option("data.cache", "--cache", panel=DATA)]
MaxPixels = Annotated[int | None, config_option("data.max_pixels", "--max-pixels", panel=DATA)]
LabelCols = Annotated[str | None, config_option("data.label_cols", "--label-cols", panel=LABELS)]
LabelDelim = Annotated[str | None, config_option("data.label_delim", "--label-delim", panel=LABELS)]
GroupCol = Annotated[str | None, config_option("data.group_col", "--group-col", panel=CV)]

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

# ---- training ----------------------------------------------------------------------------------
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
Resume = Annotated[
    Path | None,
    typer.Option(
        "--resume",
        help="Continue a killed run in its own directory, from its newest valid checkpoint; "
        "takes no other options.",
        rich_help_panel=OUTPUT,
    ),
]

# ---- segmentation ------------------------------------------------------------------------------
Arch = Annotated[str | None, config_option("segment.arch", "--arch", panel=SEGMENT)]
Encoder = Annotated[str | None, config_option("segment.encoder", "--encoder", panel=SEGMENT)]
EncoderWeights = Annotated[
    str | None, config_option("segment.encoder_weights", "--encoder-weights", panel=SEGMENT)
]
Width = Annotated[int | None, config_option("segment.width", "--width", panel=SEGMENT)]
Loss = Annotated[str | None, config_option("segment.loss", "--loss", panel=SEGMENT)]
NumClasses = Annotated[
    int | None, config_option("segment.num_classes", "--num-classes", panel=SEGMENT)
]
ClassNames = Annotated[
    str | None, config_option("segment.class_names", "--class-names", panel=SEGMENT)
]
MaskSuffix = Annotated[
    str | None, config_option("segment.mask_suffix", "--mask-suffix", panel=SEGMENT)
]
ColourMap = Annotated[
    str | None, config_option("segment.colour_map", "--colour-map", panel=SEGMENT)
]
IdCol = Annotated[str | None, config_option("segment.id_col", "--id-col", panel=SEGMENT)]
RleCol = Annotated[str | None, config_option("segment.rle_col", "--rle-col", panel=SEGMENT)]
RleFormat = Annotated[
    str | None, config_option("segment.rle_format", "--rle-format", panel=SEGMENT)
]
RleOrder = Annotated[str | None, config_option("segment.rle_order", "--rle-order", panel=SEGMENT)]
TunePostprocess = Annotated[
    bool | None,
    config_option(
        "segment.tune_postprocess", "--tune-postprocess/--no-tune-postprocess", panel=SEGMENT
    ),
]
MaskThreshold = Annotated[
    float | None, config_option("segment.threshold", "--mask-threshold", panel=SEGMENT)
]
MinArea = Annotated[float | None, config_option("segment.min_area", "--min-area", panel=SEGMENT)]

# ---- labels, imbalance, cross-validation -------------------------------------------------------
ClassWeights = Annotated[
    str | None, config_option("train.class_weights", "--class-weights", panel=LABELS)
]
Sampler = Annotated[str | None, config_option("train.sampler", "--sampler", panel=LABELS)]
Threshold = Annotated[str | None, config_option("train.threshold", "--threshold", panel=LABELS)]
Folds = Annotated[int | None, config_option("cv.folds", "--folds", panel=CV)]
CvKind = Annotated[str | None, config_option("cv.kind", "--cv", panel=CV)]
FoldsFile = Annotated[Path | None, config_option("cv.folds_file", "--folds-file", panel=CV)]
Refit = Annotated[bool | None, config_option("cv.refit", "--refit", panel=CV)]

# ---- transfer learning and tracking -------------------------------------------------------------
Head = Annotated[str | None, config_option("finetune.head", "--head", panel=TRANSFER)]
HeadDropout = Annotated[
    float | None, config_option("finetune.head_dropout", "--head-dropout", panel=TRANSFER)
]
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

# ---- options of one command, not config values -------------------------------------------------
# predict and serve
RunDir = Annotated[Path, typer.Argument(help="A finished run directory.", show_default=False)]
Inputs = Annotated[
    list[Path], typer.Argument(help="Image files, folders (searched recursively) or CSVs.")
]
PredictOut = Annotated[Path, typer.Option("--out", "-o", help="CSV to write.")]
PredictBatchSize = Annotated[
    int, typer.Option("--batch-size", help=config_field("train.batch_size")[0])
]
Tta = Annotated[
    bool | None,
    typer.Option(
        "--tta/--no-tta",
        help="Average with the horizontally flipped image (default: as the run says, train.tta).",
        show_default=False,
    ),
]
Budget = Annotated[
    str, typer.Option("--budget", help="Wall-clock budget of the whole command: 90s, 30m, 2h.")
]
Candidates = Annotated[
    str | None,
    typer.Option(
        "--candidates",
        help="Only these candidate networks (name prefixes, comma-separated), e.g. "
        "simple_cnn,efficientnet_lite0.",
    ),
]
AutoResume = Annotated[
    Path | None,
    typer.Option(
        "--resume",
        help="Continue a killed AUTO_DIR: finished stages are kept (--budget: this call's "
        "budget; default: what was left).",
    ),
]
Backend = Annotated[
    str,
    typer.Option(
        "--backend",
        help="torch, or onnx: onnxruntime on RUN/export/onnx/model.onnx (exported, with its "
        "parity check, when missing).",
    ),
]
ExportFormat = Annotated[
    str, typer.Option("--format", "-f", help="onnx or torchscript.", show_default=True)
]
ExportOut = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Folder for the model file and export.json.",
        show_default="RUN/export/<format>",
    ),
]
Opset = Annotated[int | None, typer.Option("--opset", help="ONNX opset (default 17).")]
ParityCheck = Annotated[
    bool,
    typer.Option(
        "--check/--no-check",
        help="Compare the export with PyTorch on sample inputs (max abs difference <= 1e-4).",
    ),
]
RunMaxPixels = Annotated[
    int | None,
    typer.Option("--max-pixels", help=config_field("data.max_pixels")[0], show_default="the run's"),
]
MasksDir = Annotated[
    Path | None,
    typer.Option(
        "--masks-dir",
        help="Segmentation: folder for the mask PNGs (default: <out>_masks next to --out).",
    ),
]
OverlaysDir = Annotated[
    Path | None,
    typer.Option(
        "--overlays-dir",
        help="Segmentation: also write the images with their masks drawn over them.",
    ),
]
Truth = Annotated[
    Path | None,
    typer.Option(
        "--truth",
        help="Segmentation: score against true masks (an RLE CSV in the training format, or a "
        "masks folder); prints dice and writes <out>_scores.csv.",
    ),
]
# check
CheckOut = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write the full report as JSON (never overwrites a file)."),
]
Threads = Annotated[
    int | None, typer.Option("--threads", help="Decoding threads (default: up to 8).")
]
NoCache = Annotated[
    bool,
    typer.Option("--no-cache", help="Decode every file again instead of reusing the scan cache."),
]
# demo and models
DemoEpochs = Annotated[int, typer.Option("--epochs", help=config_field("train.epochs")[0])]
DemoTask = Annotated[
    str,
    typer.Option(
        "--task",
        help="classify (handwritten digits) | segment (generated shapes on textured backgrounds).",
    ),
]
Pattern = Annotated[str, typer.Argument(help="Glob, e.g. 'resnet*'.")]
# lr-find
PlotOut = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write the plot here (.png; never overwritten) instead."),
]
MinLr = Annotated[float, typer.Option("--min-lr", help="Smallest learning rate tried.")]
MaxLr = Annotated[float, typer.Option("--max-lr", help="Largest learning rate tried.")]
NumTraining = Annotated[int, typer.Option("--num-training", help="Batches in the sweep.")]
# tune
Trials = Annotated[
    int,
    typer.Option(
        "--trials",
        help="The study's total of finished trials, across processes and invocations: the same "
        "command resumes; a larger number adds trials.",
    ),
]
Storage = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Optuna storage URL, e.g. sqlite:///study.db (default: RUNS_DIR/tune-STUDY/study.db).",
    ),
]
Study = Annotated[str, typer.Option("--study", help="Study name; several processes may share it.")]
Space = Annotated[
    Path | None,
    typer.Option(
        "--space",
        help="Search space YAML (default: lr, weight decay, augment, batch size). Keys: lr, "
        "weight_decay, model, img_size, augment, batch_size, epochs or any dotted config key.",
    ),
]
TuneFolds = Annotated[
    int | None,
    typer.Option(
        "--folds",
        help="Score each trial by the mean over K stratified folds instead of one hold-out.",
    ),
]
Pruning = Annotated[
    bool,
    typer.Option("--pruning/--no-pruning", help="Stop poor trials early (median rule)."),
]
SamplerSeed = Annotated[
    int | None, typer.Option("--sampler-seed", help="Seed the TPE sampler (one worker only).")
]
StudyOut = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Folder for best.yaml, trials.csv and plots (default: RUNS_DIR/tune-STUDY).",
    ),
]
# runs, report, serve
RunsFolder = Annotated[Path, typer.Argument(help="Folder of run directories.")]
Sort = Annotated[
    str | None,
    typer.Option(
        "--sort",
        help="A column (score, seconds, model, ...) or a metric (val_auroc, val_loss, ...): best "
        "first.",
    ),
]
TableCsv = Annotated[Path | None, typer.Option("--csv", help="Also write the table to this CSV.")]
TableHtml = Annotated[
    Path | None,
    typer.Option("--html", help="Also write an HTML comparison of the runs to this file."),
]
ReportTarget = Annotated[
    Path,
    typer.Argument(help="A run directory, or with --compare a folder of runs.", show_default=False),
]
Compare = Annotated[
    bool, typer.Option("--compare", help="Compare the runs in a folder instead of one run.")
]
ReportOut = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="HTML file to write (default: inside the run or folder)."),
]
Host = Annotated[str, typer.Option("--host", help="Address to listen on.")]
Port = Annotated[int, typer.Option("--port", help="Port to listen on.")]
MaxUploadMb = Annotated[
    float, typer.Option("--max-upload-mb", help="Refuse uploads larger than this (MB).")
]
WorkersQueue = Annotated[
    int | None,
    typer.Option(
        "--workers-queue",
        help="Requests that may wait for the model at once; more are refused (default: the "
        "server's).",
    ),
]
