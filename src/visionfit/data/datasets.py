"""Torch datasets over the samples table, decoding with the one shared decoder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from visionfit.data.io import decode_image


class ImageDataset(Dataset):
    """Images (paths, PIL images or arrays) with optional targets: class indices (N,), or float
    vectors (N, C) for multi-label and soft labels."""

    def __init__(
        self, images: Sequence, targets: Sequence | np.ndarray | None, transform, in_chans: int = 3
    ):
        if targets is not None and len(targets) != len(images):
            raise ValueError("images and targets differ in length")
        self.images = list(images)
        if targets is not None:
            targets = np.asarray(targets)
            targets = targets.astype(np.float32 if targets.ndim == 2 else np.int64)
        self.targets = targets
        self.transform = transform
        self.in_chans = in_chans

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        arr = decode_image(self.images[i], in_chans=self.in_chans)
        x = self.transform(image=arr)["image"]
        if x.ndim == 2:  # albumentations may drop a single channel axis
            x = x.unsqueeze(0)
        if self.targets is None:
            return x
        return x, torch.as_tensor(self.targets[i])
