"""Segmentation's section of the run config (`segment:` in config.yaml, `--set segment.KEY=...`,
the CLI's Segmentation options). Importable without torch: the CLI reads its fields at start-up."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from visionfit.config import TaskSection, register_section, split_names


class SegmentConfig(TaskSection):
    """Segmentation (`data.task: segment`): masks, architecture, loss and post-processing."""

    arch: str = Field(
        "unet",
        description="unet | unetplusplus | fpn | deeplabv3plus | linknet | pspnet | manet "
        "(segmentation_models_pytorch) | unet_original (2015, valid convs). unet without "
        "--encoder is the padded U-Net built from scratch.",
    )
    encoder: str | None = Field(
        None,
        description="smp encoder (resnet18, resnet34, efficientnet-b0, ...) or tu-<timm name>.",
    )
    encoder_weights: str = Field(
        "none",
        description="imagenet | none | PATH to an encoder state dict (offline: HF cache or a "
        "file).",
    )
    width: int = Field(
        64, ge=4, le=512, description="First-level channels of unet / unet_original."
    )
    loss: str = Field(
        "auto",
        description="Binary: bce | dice | focal | bce+dice | lovasz; multi-class: ce | ce+dice | "
        "dice | focal | lovasz (auto: bce+dice / ce+dice).",
    )
    num_classes: int | None = Field(
        None,
        ge=2,
        le=256,
        description="Classes incl. background for class-index masks (default: binary 0/1 or "
        "0/255).",
    )
    class_names: list[str] | None = Field(
        None, description="Comma-separated class names, background first."
    )
    mask_suffix: str = Field("", description="Mask file = <image stem><suffix>.*, e.g. _mask.")
    colour_map: dict[str, int] | None = Field(
        None,
        description="Colour masks: 'R,G,B=class;...' or a JSON file ({\"#ff0000\": 1} or a list).",
    )
    id_col: str = Field("ImageId", description="RLE CSV: image id column.")
    rle_col: str = Field("EncodedPixels", description="RLE CSV: run-length column.")
    class_col: str | None = Field(
        None,
        description="Multi-class RLE CSV: the class id column (1..K-1, one row per image and "
        "class; the higher class wins where masks overlap). Default: a column named ClassId "
        "(any case), else the masks are binary.",
    )
    rle_format: Literal["kaggle", "siim"] = Field(
        "kaggle",
        description="kaggle (1-based start/length) | siim (0-based, starts relative to the "
        "previous run).",
    )
    rle_order: Literal["F", "C"] = Field(
        "F", description="F: column-major pixel order | C: row-major."
    )
    tune_postprocess: bool = Field(
        True,
        description="Tune the threshold and minimum component area on validation (binary).",
    )
    threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="Mask probability threshold when not tuned."
    )
    min_area: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Smallest kept component (share of the image) when not tuned.",
    )

    @field_validator("class_names", mode="before")
    @classmethod
    def _split_class_names(cls, v: object) -> object:
        return split_names(v) if isinstance(v, str) else v

    @field_validator("colour_map", mode="before")
    @classmethod
    def _parse_colour_map(cls, v: object) -> object:
        # 'R,G,B=k;...', '#rrggbb=k', JSON text or a JSON file; a mapping passes through.
        if not isinstance(v, str):
            return v
        from visionfit.colour_map import parse_colour_map

        return parse_colour_map(v)


register_section("segment", SegmentConfig)
