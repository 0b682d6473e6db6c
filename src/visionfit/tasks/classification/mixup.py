"""Mixup / CutMix for multi-class training with timm's `Mixup`: batches of mixed images with
soft targets (label smoothing folded in), trained with cross-entropy against probabilities."""

from __future__ import annotations

import torch
from timm.data import Mixup


def create_mixup(mixup: float, cutmix: float, label_smoothing: float, num_classes: int):
    """timm's Mixup (one of mixup / cutmix per batch when both are on), or None when both are 0."""
    if not mixup and not cutmix:
        return None
    return Mixup(
        mixup_alpha=mixup,
        cutmix_alpha=cutmix,
        prob=1.0,
        switch_prob=0.5,
        mode="batch",
        label_smoothing=label_smoothing,
        num_classes=num_classes,
    )


def mix_batch(mixer, x: torch.Tensor, y: torch.Tensor):
    """(mixed images, soft targets); a batch of odd size (the epoch's last) is left unmixed,
    as timm's batch mode needs pairs: (x, None)."""
    if mixer is None or len(x) % 2:
        return x, None
    return mixer(x, y)
