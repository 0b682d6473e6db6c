"""Typed run configuration: data, model, augmentation and training options, YAML in and out.

A run's `config.yaml` is the fully resolved config;
`visionfit train --config config.yaml` reruns it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from visionfit.data.io import DEFAULT_MAX_PIXELS
from visionfit.errors import VisionfitError

TaskName = Literal["auto", "binary", "multiclass", "multilabel", "soft", "segment"]

# Pillow's own decompression-bomb limit (PIL.Image.MAX_IMAGE_PIXELS); our cap must stay below it.
PILLOW_MAX_IMAGE_PIXELS = 89_478_485


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    """Where the images are and how labels are read."""

    path: str | None = Field(None, description="image folder (class folders or train/val split)")
    csv: str | None = Field(None, description="CSV of image paths and labels")
    root: str | None = Field(None, description="folder the CSV's image paths are relative to")
    image_col: str = "image"
    label_col: str = "label"
    image_ext: str | None = Field(None, description="extension appended to ids without one")
    task: TaskName = "auto"
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    test_fraction: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="share of the images kept out as a test split, scored once at the end",
    )
    split_col: str | None = Field(
        None, description="CSV column of train / val / test per row (the split is given)"
    )
    in_chans: int = Field(3, ge=1, le=4)
    workers: int | None = Field(None, ge=0, description="DataLoader workers; None = auto")
    label_cols: list[str] | None = Field(
        None, description="CSV columns of 0/1 labels (multilabel) or probabilities (soft)"
    )
    label_delim: str | None = Field(
        None, description="labels in label_col are split on this (multilabel), e.g. ' '"
    )
    group_col: str | None = Field(
        None, description="CSV column of group ids (e.g. patient): a group never spans folds"
    )
    max_pixels: int = Field(
        DEFAULT_MAX_PIXELS,
        ge=1,
        le=PILLOW_MAX_IMAGE_PIXELS,
        description="images with more pixels (width * height) are refused as 'too many pixels'",
    )

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                f"val_fraction {self.val_fraction} + test_fraction {self.test_fraction} leave "
                "less than 10% of the images for training"
            )
        return self

    @field_validator("in_chans")
    @classmethod
    def _one_or_three_channels(cls, v: int) -> int:
        # The decoder (data/io.py) produces 1 (grayscale) or 3 (RGB) channels, nothing else.
        if v not in (1, 3):
            raise ValueError("in_chans must be 1 (grayscale) or 3 (RGB)")
        return v


class ModelConfig(_Section):
    name: str = "simple_cnn"
    pretrained: bool = False
    weights: str | None = Field(None, description="local .pth / .safetensors state dict")
    drop_rate: float = Field(0.0, ge=0.0, lt=1.0)


class AugmentConfig(_Section):
    preset: Literal["none", "light", "medium", "heavy", "trivial"] = Field(
        "light", description="augmentation ladder (data/transforms.py); trivial: TrivialAugment"
    )
    img_size: int = Field(64, ge=8, le=2048)


class TrainConfig(_Section):
    recipe: Literal["none", "fast", "default", "best"] = Field(
        "none",
        description="a named recipe (engine/recipes.py) resolved into the options below; "
        "none: the options as given",
    )
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    opt: Literal["adamw", "adam", "sgd"] = "adamw"
    sched: Literal["cosine", "onecycle", "step", "plateau", "none"] = "cosine"
    warmup_epochs: float = Field(1.0, ge=0)
    precision: Literal["32", "bf16-mixed", "16-mixed"] = "32"
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    lr_find: bool = Field(
        False, description="set lr from the LR range test before training (engine/lr_find.py)"
    )
    ema: bool = Field(
        False, description="keep an EMA of the weights; bundled when it validates better"
    )
    ema_decay: float = Field(0.998, gt=0.0, lt=1.0)
    mixup: float = Field(0.0, ge=0.0, description="mixup alpha (multi-class); 0 = off")
    cutmix: float = Field(0.0, ge=0.0, description="cutmix alpha (multi-class); 0 = off")
    tta: Literal["none", "hflip", "hvflip"] = Field(
        "none", description="test-time flips the bundle predicts with unless told otherwise"
    )
    patience: int | None = Field(
        5, ge=1, description="early-stopping patience in epochs; None = off"
    )
    monitor: str = Field("auto", description="val metric for early stopping / best checkpoint")
    monitor_mode: Literal["auto", "min", "max"] = "auto"
    seed: int = 42
    deterministic: bool = False
    accelerator: str = "auto"
    class_weights: Literal["none", "auto"] = Field(
        "none", description="auto: inverse class frequency in the loss (pos_weight for BCE)"
    )
    sampler: Literal["shuffle", "balanced"] = Field(
        "shuffle", description="balanced: sample every class equally often (with replacement)"
    )
    threshold: str = Field(
        "auto",
        description="binary/multilabel decision threshold: a number, youden or f1 (chosen on "
        "val / out-of-fold predictions); auto = 0.5 for binary, f1 per label for multilabel",
    )
    checkpoint_steps: int | None = Field(
        None, ge=1, description="also write last.ckpt every N training steps (mid-epoch)"
    )
    checkpoint_minutes: float | None = Field(
        10.0, gt=0, description="also write last.ckpt when this long has passed since the last one"
    )


CVKind = Literal["auto", "stratified", "kfold", "group", "multilabel"]


class CVConfig(_Section):
    """K-fold cross-validation: an outer loop over folds written to folds.csv first."""

    folds: int = Field(0, ge=0, description="number of folds; 0 = one hold-out run")
    kind: CVKind = Field(
        "auto",
        description="auto: group with data.group_col, multilabel for multilabel data, "
        "else stratified",
    )
    folds_file: str | None = Field(None, description="reuse this folds.csv (image, fold)")
    refit: bool = Field(False, description="then train on all data for the mean best epochs")

    @field_validator("folds")
    @classmethod
    def _not_one_fold(cls, v: int) -> int:
        if v == 1:
            raise ValueError("use 0 for one hold-out run, or at least 2 folds")
        return v

    @property
    def enabled(self) -> bool:
        return self.folds > 1 or bool(self.folds_file)


class SegmentConfig(_Section):
    """Segmentation (`data.task: segment`): masks, architecture, loss and post-processing."""

    arch: str = Field(
        "unet",
        description="unet | unetplusplus | fpn | deeplabv3plus | linknet | pspnet | manet "
        "(segmentation_models_pytorch) or unet_original; unet without an encoder is built "
        "from scratch",
    )
    encoder: str | None = Field(
        None, description="smp encoder or tu-<timm name>; None: from scratch (unet), else resnet18"
    )
    encoder_weights: str = Field("none", description="imagenet | none | PATH to a state dict")
    width: int = Field(64, ge=4, le=512, description="first-level channels, from-scratch nets")
    loss: str = Field("auto", description="bce | dice | focal | bce+dice | lovasz | ce | ce+dice")
    num_classes: int | None = Field(
        None, ge=2, le=256, description="classes incl. background; None = binary (0/1, 0/255)"
    )
    class_names: list[str] | None = None
    mask_suffix: str = Field("", description="mask file = <image stem><suffix>.<ext>")
    colour_map: dict[str, int] | None = Field(None, description='colour -> class, {"#rrggbb": k}')
    id_col: str = "ImageId"
    rle_col: str = "EncodedPixels"
    rle_format: Literal["kaggle", "siim"] = "kaggle"
    rle_order: Literal["F", "C"] = "F"
    tune_postprocess: bool = Field(True, description="tune threshold + min area on validation")
    threshold: float = Field(0.5, gt=0.0, lt=1.0)
    min_area: float = Field(0.0, ge=0.0, lt=1.0, description="smallest component, share of image")


class FinetuneConfig(_Section):
    """Transfer learning: the classifier head, what is frozen, and the backbone's learning rate."""

    head: Literal["linear", "mlp"] = Field(
        "linear", description="linear, or mlp: BN-dropout-linear-ReLU-BN-dropout-linear"
    )
    head_hidden: int = Field(512, ge=1, description="width of the mlp head's hidden layer")
    head_dropout: float = Field(0.25, ge=0.0, lt=1.0, description="dropout in the mlp head")
    freeze: Literal["none", "backbone"] = Field(
        "none", description="backbone: train only the head for the whole run"
    )
    finetune_epochs: int = Field(
        0, ge=0, description="train only the head for this many epochs, then everything"
    )
    backbone_lr_mult: float | None = Field(
        None,
        gt=0.0,
        description="backbone lr = lr * this; None: 0.1 with finetune_epochs, else 1",
    )

    @model_validator(mode="after")
    def _one_policy(self) -> FinetuneConfig:
        if self.freeze == "backbone" and self.finetune_epochs:
            raise ValueError(
                "freeze=backbone freezes the backbone for the whole run and finetune_epochs="
                f"{self.finetune_epochs} unfreezes it later: choose one (--freeze or --finetune)"
            )
        return self

    @property
    def effective_backbone_lr_mult(self) -> float:
        if self.backbone_lr_mult is not None:
            return self.backbone_lr_mult
        return 0.1 if self.finetune_epochs else 1.0


class TrackingConfig(_Section):
    """Experiment tracking besides the run's own metrics.csv (which is always written)."""

    logger: Literal["csv", "mlflow", "tensorboard"] = "csv"
    mlflow_uri: str | None = Field(
        None, description="MLflow tracking URI; None: $MLFLOW_TRACKING_URI, else ./mlruns"
    )
    experiment: str = Field("visionfit", description="MLflow experiment name")


class RunConfig(_Section):
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    augment: AugmentConfig = AugmentConfig()
    train: TrainConfig = TrainConfig()
    segment: SegmentConfig = SegmentConfig()
    name: str | None = Field(None, description="run name prefix; default: the model name")
    runs_dir: str = "runs"
    cv: CVConfig = CVConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    tracking: TrackingConfig = TrackingConfig()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    @classmethod
    def from_yaml(cls, path: str | Path) -> RunConfig:
        p = Path(path)
        if not p.is_file():
            raise VisionfitError(f"config file not found: {p}")
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise VisionfitError(f"config file {p} is not valid YAML: {e}") from None
        return cls.from_dict(raw, origin=str(p))

    @classmethod
    def from_dict(cls, raw: dict, origin: str = "config") -> RunConfig:
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise VisionfitError(f"invalid {origin}: {_first_error(e)}") from None

    def with_overrides(self, overrides: dict[str, object]) -> RunConfig:
        """Apply dotted-key overrides such as {"train.lr": 0.01} and validate the result."""
        raw = self.model_dump(mode="json")
        for key, value in overrides.items():
            node = raw
            *parents, leaf = key.split(".")
            for part in parents:
                node = node[part]
            if leaf not in node:
                raise VisionfitError(f"unknown config key {key!r}")
            node[leaf] = value
        return RunConfig.from_dict(raw, origin="options")


class BaselineConfig(_Section):
    """The classical baseline: scikit-learn on resized pixels or HOG features, same folds."""

    data: DataConfig = DataConfig()
    cv: CVConfig = CVConfig(folds=5)
    model: Literal["rf", "svm", "logreg", "knn"] = "rf"
    size: int = Field(32, ge=4, le=512, description="images are resized to size x size")
    features: Literal["pixels", "hog"] = "pixels"
    pca: int | None = Field(None, ge=1, description="keep this many principal components")
    class_weights: Literal["none", "auto"] = "none"
    threshold: str = Field("auto", description="as train.threshold")
    n_jobs: int = Field(-1, description="parallel jobs for features and folds; -1 = all cores")
    seed: int = 42
    name: str | None = Field(None, description="run name prefix; default: baseline-<model>")
    runs_dir: str = "runs"

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    @classmethod
    def from_dict(cls, raw: dict, origin: str = "options") -> BaselineConfig:
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise VisionfitError(f"invalid {origin}: {_first_error(e)}") from None


def parse_duration(text: str | float | int) -> float:
    """Seconds in "90s", "30m", "2h", "1h30m" or a plain number of seconds.

    >>> parse_duration("1h30m")
    5400.0
    """
    import re

    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        raw = str(text).strip().lower().replace(" ", "")
        parts = re.fullmatch(
            r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", raw
        )
        if not raw or parts is None or not any(parts.groups()):
            raise VisionfitError(
                f"cannot read the duration {text!r}: use e.g. 90s, 30m, 2h or 1h30m"
            )
        h, m, s = (float(g) if g else 0.0 for g in parts.groups())
        seconds = 3600 * h + 60 * m + s
    if seconds <= 0:
        raise VisionfitError(f"the duration must be positive, got {text!r}")
    return seconds


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']} (got {err.get('input')!r})"
