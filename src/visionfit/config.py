"""Typed run configuration: data, model, augmentation and training options, YAML in and out.

A run's `config.yaml` is the fully resolved config;
`visionfit train --config config.yaml` reruns it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from visionfit.errors import VisionfitError

TaskName = Literal["auto", "binary", "multiclass"]


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
    in_chans: int = Field(3, ge=1, le=4)
    workers: int | None = Field(None, ge=0, description="DataLoader workers; None = auto")


class ModelConfig(_Section):
    name: str = "simple_cnn"
    pretrained: bool = False
    weights: str | None = Field(None, description="local .pth / .safetensors state dict")
    drop_rate: float = Field(0.0, ge=0.0, lt=1.0)


class AugmentConfig(_Section):
    preset: Literal["none", "light", "medium", "heavy"] = "light"
    img_size: int = Field(64, ge=8, le=2048)


class TrainConfig(_Section):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    opt: Literal["adamw", "adam", "sgd"] = "adamw"
    sched: Literal["cosine", "step", "plateau", "none"] = "cosine"
    warmup_epochs: float = Field(1.0, ge=0)
    precision: Literal["32", "bf16-mixed", "16-mixed"] = "32"
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    patience: int | None = Field(
        5, ge=1, description="early-stopping patience in epochs; None = off"
    )
    monitor: str = Field("auto", description="val metric for early stopping / best checkpoint")
    monitor_mode: Literal["auto", "min", "max"] = "auto"
    seed: int = 42
    deterministic: bool = False
    accelerator: str = "auto"


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
    name: str | None = Field(None, description="run name prefix; default: the model name")
    runs_dir: str = "runs"
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


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']} (got {err.get('input')!r})"
