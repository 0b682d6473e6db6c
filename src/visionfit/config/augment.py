"""The augmentation and preprocessing section of a run's config (`augment`): the training
augmentation (a preset or an albumentations file, flips), the square the network sees and how an
image becomes it (resize mode, crop, interpolation), and the normalisation."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

AUGMENT_PRESETS = ("none", "light", "medium", "heavy", "trivial")
AUGMENT_FILE_SUFFIXES = (".yaml", ".yml", ".json")


class AugmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    preset: str = Field(
        "light",
        description="Training augmentation: a preset (none | light | medium | heavy | trivial "
        "= TrivialAugment) or an albumentations pipeline file (.yaml/.json, as A.save writes it).",
    )
    img_size: int = Field(64, ge=8, le=2048, description="Images are resized to this square size.")
    hflip: bool = Field(
        True,
        description="Keep the preset's or file's random horizontal flips (false: drop them, for "
        "data whose mirror image is another thing: digits, text). `auto` decides it from a "
        "pilot's validation score on flipped images.",
    )
    vflip: bool = Field(
        False, description="Also flip vertically at random (p 0.5): for data without an up."
    )
    rot90: bool = Field(
        False,
        description="Also rotate by a random multiple of 90 degrees (p 0.5): for data without an "
        "up (aerial, microscopy).",
    )

    @field_validator("preset")
    @classmethod
    def _preset_or_file(cls, v: str) -> str:
        # The file itself is read when a run starts (data/augment.py): a stored config stays
        # readable after the file is gone, the run keeps its own copy (augment.yaml).
        if v in AUGMENT_PRESETS or v.lower().endswith(AUGMENT_FILE_SUFFIXES):
            return v
        raise ValueError(
            f"{v!r} is neither a preset ({', '.join(AUGMENT_PRESETS)}) nor an albumentations "
            "pipeline file (.yaml, .yml or .json)"
        )

    # Preprocessing: how an image becomes an img_size square (data/preprocess.py resolves these
    # against the model's own pretrained config and stores the result in model.json).
    resize: Literal["auto", "squash", "crop", "pad"] = Field(
        "auto",
        description="How an image becomes a square: squash (resize both sides) | crop (training: "
        "RandomResizedCrop; evaluation: shorter side to img_size/crop_pct, centre crop) | pad "
        "(keep the aspect, longest side to img_size, pad with 0) | auto (crop for a timm network "
        "with pretrained or --weights, else squash).",
    )
    crop_scale: tuple[float, float] = Field(
        (0.08, 1.0),
        description="--resize crop in training: the share of the image area RandomResizedCrop "
        "keeps, drawn from MIN,MAX (aspect 3/4..4/3).",
    )
    crop_pct: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="--resize crop in evaluation: the centre crop's share of the resized shorter "
        "side (default: the timm model's pretrained config, else 0.875).",
    )
    interpolation: Literal["auto", "nearest", "bilinear", "bicubic", "area", "lanczos"] = Field(
        "auto",
        description="Resampling: nearest | bilinear | bicubic | lanczos (Pillow, as torchvision "
        "and timm) | area (OpenCV INTER_AREA) | auto (a pretrained timm model's own, else area).",
    )
    mean: str | list[float] = Field(
        "auto",
        description="Normalisation mean: numbers (0.485,0.456,0.406, one per channel or one for "
        "all) | imagenet | none (with --std none: pixels / 255 only) | auto (the model's own).",
    )
    std: str | list[float] = Field(
        "auto",
        description="Normalisation std: numbers (0.229,0.224,0.225) | imagenet | none | auto "
        "(the model's own).",
    )

    @field_validator("crop_scale", mode="before")
    @classmethod
    def _crop_scale_pair(cls, v: object) -> object:
        pair = _numbers(v) if isinstance(v, str) else v
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            lo, hi = (float(x) for x in pair)
            if 0 < lo <= hi <= 1:
                return (lo, hi)
        raise ValueError("needs MIN,MAX with 0 < MIN <= MAX <= 1, e.g. --crop-scale 0.08,1.0")

    @field_validator("mean", "std", mode="before")
    @classmethod
    def _statistics(cls, v: object, info) -> object:
        if isinstance(v, str) and v.strip().lower() in ("auto", "imagenet", "none"):
            return v.strip().lower()
        values = _numbers(v) if isinstance(v, str) else v
        ok = isinstance(values, (list, tuple)) and 1 <= len(values) <= 4
        if ok and all(type(x) in (int, float) and math.isfinite(x) for x in values):
            if info.field_name == "mean" or all(x > 0 for x in values):
                return [float(x) for x in values]
        above = " above 0" if info.field_name == "std" else ""
        raise ValueError(
            f"needs 1 to 4 finite numbers{above} (e.g. 0.485,0.456,0.406), imagenet, none or auto"
        )


def _numbers(text: str) -> list[float] | None:
    """ "0.5,0.5,0.5" -> [0.5, 0.5, 0.5]; None when a part is not a number."""
    try:
        return [float(part) for part in text.replace(" ", "").split(",")]
    except ValueError:
        return None
