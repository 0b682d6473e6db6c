"""What `visionfit auto` decides about its inputs before it times networks, from the data and
this machine, for every option the user did not type:

- the validation split of large data: 5,000 images (at least 5 %) instead of 20 % of every
  image, so that 60,000 images train on 55,000 rather than 42,000 (a hold-out of 5,000 still
  measures accuracy to about +-0.4 points, which is what choosing between candidates needs);
- grayscale input (`in_chans 1`) when every usable image is stored single-channel: the same
  pixels, a third of the first layer's work;
- the batch size of small images (`batch_for_size`): a CPU step of 32 images of 28 px is mostly
  per-step overhead;
- bfloat16 autocast (`bf16-mixed`) for a candidate that trains faster in it, on a CPU with
  native bfloat16 (AVX512-BF16 / AMX) — timed per candidate, because depthwise networks such as
  EfficientNet run slower in it there while plain convolutions run about twice as fast.

Each decision is a config override, so it is written into the resolved config.yaml of every run
and survives `--resume`.
"""

from __future__ import annotations

import torch

GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
LARGE_DATA = 25_000  # images; from here on the validation split is capped
VAL_IMAGES = 5_000
MIN_VAL_FRACTION = 0.05


def was_typed(key: str, given: set[str] | None, cfg, default) -> bool:
    """Whether the user set `key`: it was typed (the CLI says which), or, from the Python API,
    differs from the default."""
    if given is not None:
        return key in given
    return _get(cfg, key) != _get(default, key)


def split_overrides(cfg, n_images: int, given: set[str] | None) -> dict:
    """The validation fraction of large data (the split is drawn from it, so this comes first)."""
    from visionfit.config import RunConfig

    if was_typed("data.val_fraction", given, cfg, RunConfig()) or n_images <= LARGE_DATA:
        return {}
    fraction = max(MIN_VAL_FRACTION, VAL_IMAGES / n_images)
    return {"data.val_fraction": round(min(fraction, cfg.data.val_fraction), 4)}


def input_overrides(cfg, modes: dict[str, int], given: set[str] | None) -> dict:
    """Grayscale input when every usable image is single-channel (from the check's modes)."""
    from visionfit.config import RunConfig

    if was_typed("data.in_chans", given, cfg, RunConfig()) or not modes:
        return {}
    if cfg.data.window and ";" in cfg.data.window:  # DICOM windows: one channel each
        return {}
    if all(mode in GRAYSCALE_MODES for mode in modes):
        return {"data.in_chans": 1}
    return {}


def batch_for_size(img_size: int) -> int:
    """Images per step: 128 up to 32 px, 64 up to 64 px, else 32 (the default)."""
    return 128 if img_size <= 32 else 64 if img_size <= 64 else 32


def bf16_worth_timing(cfg, given: set[str] | None) -> bool:
    """bfloat16 is timed against float32 only on a CPU that has it natively, unless a precision
    was asked for."""
    from visionfit.config import RunConfig

    if was_typed("train.precision", given, cfg, RunConfig()) or cfg.train.accelerator not in (
        "cpu",
        "auto",
    ):
        return False
    if cfg.train.accelerator == "auto" and torch.cuda.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _get(cfg, key: str):
    obj = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj
