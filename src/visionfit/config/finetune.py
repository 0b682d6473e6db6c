"""The transfer-learning section of a run's config (`finetune`): the classifier head (kind,
width, dropouts, initialisation), what is frozen and how frozen BatchNorm behaves, and the
backbone's learning rate."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class FinetuneConfig(BaseModel):
    """Transfer learning: the classifier head, what is frozen, and the backbone's learning rate."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    head: Literal["linear", "mlp"] = Field(
        "linear",
        description="Classifier head: linear | mlp (BN-dropout-linear-ReLU-BN-dropout-linear).",
    )
    head_hidden: int = Field(
        512, ge=1, le=65536, description="Width of the mlp head's hidden layer."
    )
    head_dropout: tuple[float, float] | None = Field(
        None,
        description="The mlp head's two dropouts, e.g. 0.25,0.5 (one number: both; default "
        "0.25,0.25). With --head linear use --drop-rate (the dropout before the model's own "
        "classifier).",
    )
    head_init: Literal["default", "xavier", "kaiming"] = Field(
        "default",
        description="Initialisation of new head layers (the mlp head, a classifier no weights "
        "filled): default (the layer's own; N(0, 0.01) after pretrained weights) | xavier | "
        "kaiming; biases zero.",
    )
    frozen_bn: Literal["eval", "train"] = Field(
        "eval",
        description="A frozen backbone's BatchNorm: eval (running statistics used, never "
        "updated) | train (batch statistics, running statistics keep updating).",
    )
    freeze: Literal["none", "backbone"] = Field(
        "none",
        description="none | backbone: train only the head (frozen BatchNorm: see --frozen-bn; "
        "lr-find: the head's lr).",
    )
    finetune_epochs: int = Field(
        0,
        ge=0,
        description="Train only the head for N epochs, then everything with a lower backbone lr "
        "(lr-find runs in the head-only phase).",
    )
    backbone_lr_mult: float | None = Field(
        None,
        gt=0.0,
        description="Backbone lr = lr x this (default 0.1 with --finetune, else 1).",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_linear_dropout(cls, data: object) -> object:
        # config.yaml files written before head_dropout could be unset recorded the mlp head's
        # default (0.25, a number) for every run, linear heads too: read as unset.
        if isinstance(data, dict) and data.get("head", "linear") == "linear":
            if type(data.get("head_dropout")) is float and data["head_dropout"] == 0.25:
                data = {**data, "head_dropout": None}
        return data

    @field_validator("head_dropout", mode="before")
    @classmethod
    def _two_dropouts(cls, v: object) -> object:
        # "0.25,0.5" from the command line or --set, a number or a YAML list: one value is both
        if v is None:
            return v
        parts = v.split(",") if isinstance(v, str) else v if isinstance(v, (list, tuple)) else [v]
        try:
            values = [float(p) for p in parts]
        except (TypeError, ValueError):
            raise ValueError("expected one or two numbers such as 0.25,0.5") from None
        if len(values) not in (1, 2) or not all(0.0 <= x < 1.0 for x in values):
            raise ValueError("expected one or two dropouts from 0 to below 1, e.g. 0.25,0.5")
        return (values[0], values[-1])

    @model_validator(mode="after")
    def _one_policy(self) -> FinetuneConfig:
        if self.head == "linear" and self.head_dropout is not None:
            raise ValueError(
                "head_dropout sets the mlp head's dropouts, and head linear keeps the model's "
                "own classifier: use --drop-rate for a dropout before it, or --head mlp"
            )
        if self.freeze == "backbone" and self.finetune_epochs:
            raise ValueError(
                "freeze=backbone freezes the backbone for the whole run and finetune_epochs="
                f"{self.finetune_epochs} unfreezes it later: choose one (--freeze or --finetune)"
            )
        return self

    @property
    def mlp_dropouts(self) -> tuple[float, float]:
        """The mlp head's (first, second) dropout."""
        return self.head_dropout or (0.25, 0.25)

    @property
    def effective_backbone_lr_mult(self) -> float:
        if self.backbone_lr_mult is not None:
            return self.backbone_lr_mult
        return 0.1 if self.finetune_epochs else 1.0
