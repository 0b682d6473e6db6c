"""Per-dataset intensity scaling: how high-bit-depth and float values reach the network.

A 16-bit or float image is decoded to its stored values (data/highbit.py). Before the run's
resize, augmentation and mean/std normalisation, each channel is mapped linearly so that a value
`low` becomes 0 and a value `high` becomes 255, the range of an 8-bit pixel; the rest of the
pipeline (``x = (pixel / 255 - mean) / std``) is then the one every run uses. Values outside
``low..high`` are kept (not clipped), so no information is lost.

`low` and `high` are computed once per run from its training images (up to `SAMPLE_IMAGES` of
them, drawn with the run's seed; `SAMPLE_PIXELS` pixels of each) and stored in model.json's
preprocessing, so evaluate, predict, serve and export apply the very same mapping.

Modes (``--intensity``, config ``data.intensity``):

``auto``        ``percentile`` when a training image is high-bit-depth or float (decoded to
                float32, not uint8); nothing for 8-bit data, N channels included (the pipeline
                of every 8-bit run).
``percentile``  per channel, the 0.5th and 99.5th percentiles of the sampled pixels.
``minmax``      per channel, the smallest and largest value of the sampled images.
``meanstd``     per channel, mean - 2 std and mean + 2 std (the mean becomes mid-grey).
``none``        no mapping: values are read as 8-bit pixel values (``value / 255``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import albumentations as A
import numpy as np

INTENSITY_MODES = ("auto", "percentile", "minmax", "meanstd", "none")
SAMPLE_IMAGES = 256
SAMPLE_PIXELS = 4096
PERCENTILES = (0.5, 99.5)


@dataclass(frozen=True)
class Intensity:
    """Per channel: `low` -> 0 and `high` -> 255, linearly (see the module docstring)."""

    mode: str
    low: tuple[float, ...]
    high: tuple[float, ...]
    images: int = 0  # training images the statistics were computed from

    def meta(self) -> dict:
        return {"mode": self.mode, "low": list(self.low), "high": list(self.high),
                "images": self.images}  # fmt: skip

    @classmethod
    def from_meta(cls, meta: dict | None) -> Intensity | None:
        if not meta:
            return None
        return cls(
            mode=str(meta["mode"]),
            low=tuple(float(v) for v in meta["low"]),
            high=tuple(float(v) for v in meta["high"]),
            images=int(meta.get("images", 0)),
        )

    def apply(self, arr: np.ndarray) -> np.ndarray:
        """`arr` (HxWxC, any numeric type) mapped to float32 on the 0..255 scale."""
        low = np.asarray(self.low, np.float32)
        scale = np.float32(255.0) / (np.asarray(self.high, np.float32) - low)
        out = arr.astype(np.float32, copy=True)
        if out.ndim == 2:
            out = out[:, :, None]
        if out.shape[2] != len(low):
            raise ValueError(f"{out.shape[2]} channels; the intensity mapping has {len(low)}")
        out -= low
        out *= scale
        return out

    def describe(self) -> str:
        pairs = ", ".join(f"{lo:g}..{hi:g}" for lo, hi in zip(self.low, self.high, strict=True))
        return f"intensity {self.mode}: per channel {pairs} -> 0..255 (not clipped)"


class ScaleIntensity(A.ImageOnlyTransform):
    """The first op of a pipeline of a run with an intensity mapping (data/transforms.py)."""

    def __init__(self, mode: str, low, high, p: float = 1.0):
        super().__init__(p=p)
        self.mode, self.low, self.high = mode, tuple(low), tuple(high)
        self._intensity = Intensity(mode, self.low, self.high)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("mode", "low", "high")

    def apply(self, img, **params):
        return self._intensity.apply(img)


def fit_intensity(
    images: Sequence,
    mode: str,
    *,
    in_chans: int,
    max_pixels: int,
    seed: int = 0,
) -> Intensity | None:
    """The mapping of `mode` from (a seeded sample of) `images`; None for ``auto`` when every
    sampled image is 8-bit, or when no sampled image decodes."""
    from visionfit.data.io import ImageDecodeError, decode_image

    if mode not in INTENSITY_MODES:
        raise ValueError(f"unknown intensity mode {mode!r}; choose from {INTENSITY_MODES}")
    rng = np.random.default_rng(seed)
    items = list(images)
    if len(items) > SAMPLE_IMAGES:
        items = [items[i] for i in sorted(rng.choice(len(items), SAMPLE_IMAGES, replace=False))]
    pixels, lows, highs, wide = [], [], [], False
    for item in items:
        try:
            arr = decode_image(item, in_chans=in_chans, max_pixels=max_pixels)
        except ImageDecodeError:
            continue  # the scan reports it; the run leaves it out
        wide = wide or arr.dtype != np.uint8
        flat = arr.reshape(-1, arr.shape[2])
        lows.append(flat.min(axis=0).astype(np.float64))
        highs.append(flat.max(axis=0).astype(np.float64))
        take = rng.choice(len(flat), min(len(flat), SAMPLE_PIXELS), replace=False)
        pixels.append(flat[take].astype(np.float64))
    if not pixels or (mode == "auto" and not wide):
        return None
    mode = "percentile" if mode == "auto" else mode
    values = np.concatenate(pixels)
    low, high = _statistics(mode, values, np.min(lows, axis=0), np.max(highs, axis=0))
    high = np.where(high > low, high, low + 1.0)  # a constant channel: shifted, not divided by 0
    return Intensity(mode, tuple(map(float, low)), tuple(map(float, high)), len(pixels))


def _statistics(mode: str, values: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    if mode == "percentile":
        return np.percentile(values, PERCENTILES, axis=0)
    if mode == "minmax":
        return lo, hi
    if mode == "meanstd":
        mean, std = values.mean(axis=0), values.std(axis=0)
        return mean - 2 * std, mean + 2 * std
    chans = values.shape[1]  # none
    return np.zeros(chans), np.full(chans, 255.0)
