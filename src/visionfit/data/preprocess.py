"""How an image becomes the network's input square: the resolved preprocessing of a run.

`resolve_preprocess` turns the run's `augment.*` options (resize, crop_pct, interpolation,
mean, std) and the network's own defaults (`models.factory.Preprocessing`: a pretrained timm
model's `pretrained_cfg`) into one `Preprocess`; training, validation, the bundle (model.json),
`predict`, `serve`, Grad-CAM and export all build their pipeline from it (`transforms_for`), so
they apply exactly what training's evaluation applied.

Resize modes (`--resize`):

``squash``  both sides to img_size (the aspect is not kept); training and evaluation alike.
``crop``    training: RandomResizedCrop(img_size, scale=crop_scale, ratio=3/4..4/3) as
            torchvision and timm train; evaluation: the shorter side to floor(img_size /
            crop_pct), then the centre img_size square (timm's eval transform, to the pixel).
``pad``     the longer side to img_size (aspect kept), then padded to a centred square with 0
            (masks with 0, background); training and evaluation alike.

Interpolations nearest / bilinear / bicubic / lanczos resample with Pillow, as torchvision and
timm do on PIL images (so `--resize crop` evaluation matches timm's `create_transform` output);
area is OpenCV's INTER_AREA, the only resampling before these options existed (every run
stored without a `resize` key was squashed with it). Masks always move with nearest neighbour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from visionfit.data.intensity import Intensity
from visionfit.errors import VisionfitError

RESIZE_MODES = ("squash", "crop", "pad")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "lanczos")
DEFAULT_CROP_PCT = 0.875  # timm's and torchvision's (224 of 256)
CROP_RATIO = (3 / 4, 4 / 3)
# model.json keys of a run's preprocessing (with mean and std, which every bundle stored)
META_KEYS = ("img_size", "resize", "crop_pct", "interpolation", "mean", "std")


@dataclass(frozen=True)
class Preprocess:
    """The resolved preprocessing; `mean`/`std` on the 0..1 scale (x = (pixel/255 - mean)/std)."""

    img_size: int
    resize: str = "squash"
    interpolation: str = "area"
    crop_pct: float = DEFAULT_CROP_PCT
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    crop_scale: tuple[float, float] = (0.08, 1.0)  # training only; not part of model.json
    # high-bit-depth / float / N-channel data: values -> 0..255 per channel (data/intensity.py),
    # computed from the training images; None for 8-bit data (and absent from model.json)
    intensity: Intensity | None = None

    def meta(self) -> dict:
        """The model.json entries (`from_meta` reads them back)."""
        d = asdict(self)
        out = {k: list(d[k]) if k in ("mean", "std") else d[k] for k in META_KEYS}
        if self.intensity is not None:
            out["intensity"] = self.intensity.meta()
        return out

    @classmethod
    def from_meta(cls, meta: dict) -> Preprocess:
        """What a bundle's model.json says its network was fed. A run stored before these keys
        existed was squashed with area interpolation (its `interpolation` key then named the
        backbone's pretrained config, never applied)."""
        base = {
            "img_size": int(meta["img_size"]),
            "mean": tuple(float(v) for v in meta["mean"]),
            "std": tuple(float(v) for v in meta["std"]),
            "intensity": Intensity.from_meta(meta.get("intensity")),
        }
        if "resize" not in meta:
            return cls(**base)
        return cls(
            **base,
            resize=str(meta["resize"]),
            interpolation=str(meta.get("interpolation", "area")),
            crop_pct=float(meta.get("crop_pct") or DEFAULT_CROP_PCT),
        )

    def describe(self) -> str:
        """One line: what an outside user must do to an image before the network (export.json)."""
        how = {
            "squash": f"resize to {self.img_size} x {self.img_size}",
            "crop": f"resize the shorter side to floor({self.img_size} / {self.crop_pct:g}) = "
            f"{scale_size(self.img_size, self.crop_pct)} (aspect kept, width/height rounded down "
            f"as torchvision does), then crop the centre {self.img_size} x {self.img_size} "
            "(offsets rounded as torchvision's CenterCrop)",
            "pad": f"resize the longer side to {self.img_size} (aspect kept), then pad to a "
            f"centred {self.img_size} x {self.img_size} square with 0",
        }[self.resize]
        lib = f"Pillow {self.interpolation}"
        if self.interpolation == "area":
            lib = "OpenCV INTER_AREA"
        first = ""
        if self.intensity is not None:
            first = f"{self.intensity.describe()}; then "
        return f"{first}{how}, resampled with {lib}"


def scale_size(img_size: int, crop_pct: float) -> int:
    """The shorter side before the centre crop: timm's `math.floor(img_size / crop_pct)`."""
    return math.floor(img_size / crop_pct)


def resolve_preprocess(aug, model_pre, in_chans: int) -> Preprocess:
    """The run's preprocessing: `aug` (config.AugmentConfig) where it says so, else the
    network's own defaults `model_pre` (resize, interpolation, crop_pct, mean, std)."""
    resize = getattr(model_pre, "resize", "squash") if aug.resize == "auto" else aug.resize
    interpolation = aug.interpolation
    if interpolation == "auto":
        interpolation = getattr(model_pre, "interpolation", "area")
        if interpolation not in INTERPOLATIONS:  # e.g. a pretrained config's "random"
            interpolation = "bicubic" if interpolation == "random" else "bilinear"
    crop_pct = aug.crop_pct or getattr(model_pre, "crop_pct", None) or DEFAULT_CROP_PCT
    return Preprocess(
        img_size=aug.img_size,
        resize=resize,
        interpolation=interpolation,
        crop_pct=float(crop_pct),
        mean=_statistic(aug.mean, "mean", model_pre.mean, in_chans),
        std=_statistic(aug.std, "std", model_pre.std, in_chans),
        crop_scale=tuple(aug.crop_scale),
    )


def _statistic(value, key: str, own: Sequence[float], in_chans: int) -> tuple[float, ...]:
    if value == "auto":
        return tuple(float(v) for v in own)
    if value == "none":  # pixels / 255 only
        return (0.0 if key == "mean" else 1.0,) * in_chans
    if value == "imagenet":
        from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

        rgb = IMAGENET_DEFAULT_MEAN if key == "mean" else IMAGENET_DEFAULT_STD
        return tuple(rgb) if in_chans == 3 else (sum(rgb) / 3,) * in_chans
    values = tuple(float(v) for v in value)
    if len(values) == 1:
        return values * in_chans
    if len(values) != in_chans:
        raise VisionfitError(
            f"--{key} {','.join(f'{v:g}' for v in values)}: {len(values)} numbers for "
            f"{in_chans} input channel(s); give one per channel or one for all"
        )
    return values
