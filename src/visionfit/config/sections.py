"""The shared sections of a run's config: data, model, augmentation, training, cross-validation,
transfer learning, tracking. A task's own section lives with the task (`config/tasks.py`)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from visionfit.config.augment import (  # noqa: F401 (a section and its names: re-exported)
    AUGMENT_FILE_SUFFIXES,
    AUGMENT_PRESETS,
    AugmentConfig,
)
from visionfit.config.finetune import FinetuneConfig  # noqa: F401 (a section: re-exported)
from visionfit.config.values import split_names
from visionfit.config.windows import parse_windows
from visionfit.limits import DEFAULT_MAX_PIXELS, PILLOW_MAX_IMAGE_PIXELS

# numpy and scikit-learn accept seeds 0..2**32-1 only
SEED_MAX = 2**32 - 1


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Where the images are and how labels are read."""

    # Descriptions are written as the command line's help texts (visionfit/cli/options/).
    path: str | None = Field(
        None, description="Image folder: DATA/<class>/* or DATA/train|val/<class>/*."
    )
    csv: str | None = Field(None, description="CSV of image paths and labels instead of folders.")
    root: str | None = Field(
        None, description="Folder the CSV's paths are relative to (default: the CSV's folder)."
    )
    image_col: str = Field("image", description="CSV column with image paths or ids.")
    label_col: str = Field("label", description="CSV column with labels (strings or integers).")
    image_ext: str | None = Field(None, description="Extension for ids without one, e.g. .png.")
    # Plain names: the task registry (tasks/registry.py) knows which task answers to which name
    # and checks them; the config knows no task.
    task: str = Field(
        "auto",
        description="The task: classify | segment (DATA/images + DATA/masks, or an RLE CSV) | "
        "any other registered task's name; auto: the task whose layout DATA has, else classify. "
        "Classification's label modes (binary, multiclass, ...) are also accepted here (the "
        "older spelling of --label-mode).",
    )
    # Plain names, checked by the reader that knows them (as for task)
    format: str = Field(
        "auto",
        description="The data's format: auto (detected: see the data formats pages) | voc "
        "(Pascal VOC: JPEGImages + SegmentationClass palette PNGs + ImageSets split files) | "
        "rle (a CSV of run-length encoded masks, binary or multi-class with a ClassId column) | "
        "coco (a COCO instances JSON, or a folder with annotations/instances_*.json) | yolo (a "
        "YOLO segmentation data.yaml, or a folder holding one) | "
        "parquet (.parquet files with an image and a label column) | hf (a `datasets` Dataset or "
        "DatasetDict written by save_to_disk).",
    )
    label_mode: str = Field(
        "auto",
        description="Classification labels: auto (binary for 2 classes, else multiclass; "
        "multilabel with --label-cols) | binary | multiclass | multilabel | soft.",
    )

    val_fraction: float = Field(
        0.2,
        gt=0.0,
        lt=1.0,
        description="Stratified hold-out share when no val split is given (check: the split "
        "whose train/val duplicates it reports).",
    )
    test_fraction: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Share of the images kept out as a test split (unless DATA/test/ or "
        "--split-col gives one), scored once at the end.",
    )
    split_col: str | None = Field(None, description="CSV column of train / val / test per row.")
    in_chans: int = Field(
        3, ge=1, le=64, description="Input channels: 3 (RGB), 1 (grayscale) or any N (TIFF pages "
        "or samples; a pretrained first convolution is adapted to N).",
    )  # fmt: skip
    intensity: Literal["auto", "percentile", "minmax", "meanstd", "none"] = Field(
        "auto", description="How 16-bit and float values reach the network, per channel, from "
        "the training images, stored in the bundle: percentile (0.5th..99.5th -> 0..255), minmax, "
        "meanstd (mean +/- 2 std), none (read as 8-bit pixels); auto: percentile for such data.",
    )  # fmt: skip
    window: str | None = Field(
        None,
        description="DICOM display window CENTRE,WIDTH in rescaled units (e.g. 40,80 for a brain "
        "CT), instead of the file's own window; several separated by ';' give one channel each "
        "(40,80;80,200;600,2800 -> 3 channels). Default: the file's VOI LUT or window, else "
        "its full range.",
    )
    workers: int | None = Field(None, ge=0, description="DataLoader workers (default: auto).")
    cache: Literal["auto", "memory", "disk", "none"] = Field(
        "auto",
        description="Keep decoded, resized images: memory, disk (a memmap under the visionfit "
        "cache folder) or none; auto picks by size and says which.",
    )
    label_cols: list[str] | None = Field(
        None,
        description="CSV label columns a,b,c: 0/1 (multi-label), probabilities (--task soft) or "
        "one-hot (--task multiclass).",
    )
    label_delim: str | None = Field(
        None, description="Multi-label: split --label-col on this, e.g. ' '."
    )
    group_col: str | None = Field(
        None, description="CSV column of group ids (e.g. patient): a group never spans two folds."
    )
    near_duplicates: bool = Field(
        True,
        description="Look for near-duplicate images (perceptual hashes): check lists the pairs "
        "within a class, across classes and across the split; a run scores its validation "
        "images again without those near-duplicate to a training image (leakage_corrected).",
    )
    near_duplicate_distance: int = Field(
        8,
        ge=0,
        le=31,
        description="Near-duplicates: at most this many of the 64 pHash bits differ (0 = same "
        "hash; 8 finds resized and re-compressed copies, unrelated photos differ in ~20-32).",
    )
    group_near_duplicates: bool = Field(
        False,
        description="Make each group of near-duplicate images one group for the split and the "
        "folds (merged with --group-col's groups), so that none straddles them.",
    )
    conflicting_labels: Literal["error", "first", "last", "drop"] = Field(
        "error",
        description="A CSV giving one file two labels (or, for multi-label / soft labels, two "
        "rows): error (check reports it, train refuses) | first | last (that row wins) | drop "
        "(leave the file out).",
    )
    label_from_name: str | None = Field(
        None,
        description="Labels from file names: a regular expression whose first group is the "
        "label, searched case-insensitively in each file name, e.g. '^(cat|dog)\\.' for "
        "cat.1.jpg (a folder of images, searched recursively, or a CSV with only an image "
        "column); a file it does not match is skipped and listed.",
    )
    exclude: str | None = Field(
        None,
        description="CSV with an image column (e.g. visionfit audit's label_issues.csv): leave "
        "its images out of training (only the rows marked in its exclude column, when it has "
        "any); they are listed in skipped.csv as excluded.",
    )
    relabel: str | None = Field(
        None,
        description="CSV with image and relabel columns (e.g. an edited label_issues.csv): "
        "rows with a relabel value train with that class instead (single-label "
        "classification).",
    )
    mask_values: Literal["auto", "binary", "index"] = Field(
        "auto",
        description="Segmentation: how mask values are read. auto: from the values found "
        "(check says which; ambiguous sets such as {0, 1, 255} are refused) | binary (>= 128 "
        "is foreground; 0/1 masks: 1) | index (each value is a class, 0..K-1).",
    )
    ignore_index: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Segmentation: mask pixels with this value (e.g. 255) are left out of the "
        "loss and of every score; predicted masks never hold it.",
    )
    max_pixels: int = Field(
        DEFAULT_MAX_PIXELS,
        ge=1,
        le=PILLOW_MAX_IMAGE_PIXELS,
        description="Refuse images with more pixels (width*height) as 'too many pixels'; at most "
        "Pillow's own limit (89,478,485). predict: default the run's own.",
    )

    @field_validator("label_cols", mode="before")
    @classmethod
    def _split_label_cols(cls, v: object) -> object:
        # "a,b,c" from the command line or --set; a YAML list passes through.
        if not isinstance(v, str):
            return v
        names = split_names(v)
        if not names:
            raise ValueError("needs column names, e.g. --label-cols a,b,c")
        return names

    @field_validator("window")
    @classmethod
    def _one_channel_per_window(cls, v: str | None, info) -> str | None:
        n, chans = len(parse_windows(v)) if v else 1, info.data.get("in_chans", 3)
        if n > 1 and n != chans:
            raise ValueError(
                f"{n} windows give one channel each, in_chans is {chans}: add --in-chans {n}"
            )
        return v

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                f"val_fraction {self.val_fraction} + test_fraction {self.test_fraction} leave "
                "less than 10% of the images for training"
            )
        return self

    @field_validator("label_from_name")
    @classmethod
    def _label_regex(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            compiled = re.compile(v, re.IGNORECASE)
        except re.error as e:
            raise ValueError(f"{v!r} is not a regular expression ({e})") from None
        if compiled.groups < 1:
            raise ValueError(
                f"{v!r} has no group: put the label in parentheses, e.g. '^([a-z]+)\\.'"
            )
        return v


class ModelConfig(_Section):
    name: str = Field("simple_cnn", description="simple_cnn, alexnet or any timm model name.")
    pretrained: bool = Field(False, description="Start from pretrained weights (timm models).")
    weights: str | None = Field(
        None, description="Local .pth/.safetensors state dict; a head of another shape is skipped."
    )
    drop_rate: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout before the classifier.")


# The augmentation presets shipped as files in data/augment_presets/ (a test checks they agree)
class TrainConfig(_Section):
    recipe: Literal["none", "fast", "default", "best"] = Field(
        "none",
        description="Training recipe: fast | default | best (optimizer, schedule, EMA, mixup, "
        "augmentation, TTA; written out in config.yaml) or none (the options as given).",
    )
    epochs: int = Field(10, ge=1, description="Maximum epochs.")
    batch_size: int = Field(32, ge=1, description="Batch size.")
    lr: float = Field(
        1e-3,
        gt=0,
        description="Peak learning rate (tune: the centre of the default range lr/10 .. lr*10).",
    )
    weight_decay: float = Field(1e-4, ge=0, description="Weight decay.")
    opt: Literal["adamw", "adam", "sgd"] = Field("adamw", description="adamw | adam | sgd.")
    sched: Literal["cosine", "onecycle", "step", "plateau", "none"] = Field(
        "cosine", description="cosine (with warm-up) | onecycle | step | plateau | none."
    )
    warmup_epochs: float = Field(
        1.0, ge=0, description="Linear warm-up epochs for cosine (at most 10% of the run)."
    )
    step_size: int | None = Field(
        None, ge=1, description="step: epochs between learning-rate drops (default: epochs // 3)."
    )
    gamma: float = Field(
        0.1, gt=0.0, le=1.0, description="step: multiply the learning rate by this at each drop."
    )
    plateau_factor: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="plateau: multiply the learning rate by this when the monitored metric "
        "(--monitor, in its direction) stops improving.",
    )
    plateau_patience: int = Field(
        2, ge=0, description="plateau: epochs without improvement before the rate drops."
    )
    min_lr: float = Field(
        0.0,
        ge=0.0,
        description="Lowest learning rate: where cosine and onecycle end, and the floor of "
        "plateau (below --lr).",
    )
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="sgd: momentum.")
    nesterov: bool = Field(True, description="sgd: Nesterov momentum (needs --momentum > 0).")
    val_batch_size: int | None = Field(
        None, ge=1, description="Batch size for validation (default: --batch-size)."
    )
    precision: Literal["32", "bf16-mixed", "16-mixed"] = Field(
        "32", description="32 | bf16-mixed | 16-mixed."
    )
    channels_last: bool = Field(
        True,
        description="Channels-last memory layout for the network (oneDNN and cuDNN convolutions "
        "run faster in it; the weights saved are the same).",
    )
    label_smoothing: float = Field(
        0.0, ge=0.0, lt=1.0, description="Label smoothing for multi-class cross-entropy."
    )
    lr_find: bool = Field(False, description="Set --lr from the LR range test before training.")
    ema: bool = Field(
        False, description="Keep an EMA of the weights; bundled when it validates better."
    )
    ema_decay: float = Field(0.998, gt=0.0, lt=1.0, description="Decay of the weight EMA.")
    mixup: float = Field(0.0, ge=0.0, description="Mixup alpha (multi-class; 0: off).")
    cutmix: float = Field(0.0, ge=0.0, description="CutMix alpha (multi-class; 0: off).")
    tta: Literal["none", "hflip", "hvflip"] = Field(
        "none", description="Test-time flips the bundle predicts with unless told otherwise."
    )
    patience: int | None = Field(5, ge=1, description="Early-stopping patience in epochs (0: off).")
    monitor: str = Field(
        "auto",
        description="Metric for early stopping, the best checkpoint and tune's objective "
        "(auto: val_loss, minimised).",
    )
    monitor_mode: Literal["auto", "min", "max"] = "auto"
    seed: int = Field(
        42,
        ge=0,
        le=SEED_MAX,
        description="Random seed 0..4294967295 (split, folds, init, shuffling, augmentation).",
    )
    deterministic: bool = Field(False, description="Use deterministic algorithms.")
    accelerator: str = Field("auto", description="auto | cpu | gpu | mps.")
    devices: int = Field(
        1,
        ge=1,
        description="Processes (GPUs, or CPU processes) per machine; >1 with --strategy ddp.",
    )
    strategy: str = Field(
        "auto", description="Lightning strategy: auto | ddp | ddp_spawn | fsdp (several devices)."
    )
    num_nodes: int = Field(1, ge=1, description="Machines (torchrun / SLURM), each with --devices.")
    class_weights: Literal["none", "auto"] = Field(
        "none",
        description="none | auto (inverse class frequency in the loss; BCE pos_weight for binary "
        "and multi-label).",
    )
    sampler: Literal["shuffle", "balanced"] = Field(
        "shuffle", description="shuffle | balanced (each class drawn equally often)."
    )
    threshold: str = Field(
        "auto",
        description="Decision threshold for binary / multi-label: youden | f1 | a number; chosen "
        "on val or out-of-fold predictions, stored in the bundle (auto: 0.5 binary, f1 "
        "multi-label).",
    )
    calibrate: Literal["none", "temperature"] = Field(
        "none",
        description="none | temperature (classification: one temperature T fitted on the val or "
        "out-of-fold probabilities, stored in model.json and applied by predict, serve and "
        "export).",
    )
    bootstrap: int = Field(
        1000,
        ge=0,
        le=100_000,
        description="Bootstrap resamples for the 95 % confidence intervals on the headline "
        "scores (validation, out-of-fold, test; whole groups with --group-col); 0: none.",
    )
    checkpoint_steps: int | None = Field(
        None,
        ge=1,
        description="Also write checkpoints/last.ckpt every N training steps (mid-epoch).",
    )
    checkpoint_minutes: float | None = Field(
        10.0,
        gt=0,
        description="Also write checkpoints/last.ckpt when this many minutes passed since the "
        "last (0: off).",
    )

    @model_validator(mode="after")
    def _schedule_fits(self) -> TrainConfig:
        if self.min_lr >= self.lr:
            raise ValueError(
                f"min_lr {self.min_lr:g} is not below lr {self.lr:g}: the schedule could only "
                "raise the rate; give a smaller --min-lr"
            )
        if self.opt == "sgd" and self.nesterov and self.momentum == 0:
            raise ValueError(
                "Nesterov momentum needs momentum > 0: give --momentum 0.9, or --no-nesterov "
                "for plain SGD"
            )
        return self

    @property
    def eval_batch_size(self) -> int:
        """The validation batch: val_batch_size, else batch_size."""
        return self.val_batch_size or self.batch_size

    @field_validator("patience", "checkpoint_minutes", mode="before")
    @classmethod
    def _zero_is_off(cls, v: object) -> object:
        # 0 is how the command line says "off"; the config spells it None. "0" too: pydantic
        # would read the text as the number.
        if isinstance(v, (int, float, str)) and not isinstance(v, bool):
            try:
                return None if float(v) == 0 else v
            except ValueError:
                return v
        return v


CVKind = Literal["auto", "stratified", "kfold", "group", "multilabel"]


class CVConfig(_Section):
    """K-fold cross-validation: an outer loop over folds written to folds.csv first."""

    folds: int = Field(
        0,
        ge=0,
        description="K-fold cross-validation with K folds (0: one hold-out run); with --task "
        "segment, stratified on empty / non-empty masks.",
    )
    kind: CVKind = Field(
        "auto",
        description="stratified | kfold | group | multilabel (auto: group with --group-col, "
        "multilabel for multi-label data, else stratified).",
    )
    folds_file: str | None = Field(
        None,
        description="Reuse a folds.csv (from an earlier run or baseline) so that models share "
        "folds.",
    )
    refit: bool = Field(
        False, description="After CV, train one model on all data for the mean best epoch count."
    )

    @field_validator("folds")
    @classmethod
    def _not_one_fold(cls, v: int) -> int:
        if v == 1:
            raise ValueError("use 0 for one hold-out run, or at least 2 folds")
        return v

    @property
    def enabled(self) -> bool:
        return self.folds > 1 or bool(self.folds_file)


class TrackingConfig(_Section):
    """Experiment tracking besides the run's own metrics.csv (which is always written)."""

    logger: Literal["csv", "mlflow", "tensorboard"] = Field(
        "csv", description="csv (metrics.csv only, always written) | mlflow | tensorboard."
    )
    mlflow_uri: str | None = Field(
        None,
        description="MLflow tracking URI or folder (default: $MLFLOW_TRACKING_URI, else ./mlruns).",
    )
    experiment: str = Field("visionfit", description="MLflow experiment name.")
