"""Torch datasets over the samples table, decoding with the one shared decoder."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from visionfit.data.io import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_image
from visionfit.errors import DataError


class ImageDataset(Dataset):
    """Images (paths, PIL images or arrays) with optional targets: class indices (N,), float
    vectors (N, C) for multi-label and soft labels, or a mask reader for segmentation (a callable
    `targets(i, (height, width)) -> uint8 mask`, augmented together with its image).

    Items are fetched by index, or by an ``(epoch, index)`` key (see
    `visionfit.engine.resumable.EpochSampler`): then the augmentation's random draws are seeded
    from ``(seed, epoch, index)``, so an image gets the same augmentation in a resumed run, with
    any number of DataLoader workers.
    """

    def __init__(
        self,
        images: Sequence,
        targets: Sequence | np.ndarray | None,
        transform,
        in_chans: int = 3,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        seed: int = 0,
        cache=None,
    ):
        if targets is not None and len(targets) != len(images):
            raise ValueError("images and targets differ in length")
        self.images = list(images)
        self.masks = callable(targets)
        if targets is not None and not self.masks:
            targets = np.asarray(targets)
            targets = targets.astype(np.float32 if targets.ndim == 2 else np.int64)
        self.targets = targets
        self.transform = transform
        self.in_chans = in_chans
        self.max_pixels = max_pixels
        self.seed = seed
        # A data.cache view (decoded, resized arrays, row i = image i): nothing decoded per epoch
        if cache is not None and len(cache) != len(self.images):
            raise ValueError("cache and images differ in length")
        self.cache = cache

    def __len__(self) -> int:
        return len(self.images)

    def _reseed(self, epoch: int, i: int) -> None:
        if hasattr(self.transform, "set_random_state"):  # albumentations Compose
            a, b = np.random.SeedSequence([self.seed, epoch, i]).generate_state(2, np.uint64)
            self.transform.set_random_state(np.random.default_rng(int(a)), random.Random(int(b)))

    def __getitem__(self, key):
        if isinstance(key, tuple):
            epoch, i = key
            self._reseed(int(epoch), int(i))
        else:
            i = key
        if self.cache is not None:
            return self._item(self.cache[i], i, cached=True)
        try:
            arr = decode_image(self.images[i], in_chans=self.in_chans, max_pixels=self.max_pixels)
        except ImageDecodeError as e:
            # The scan before training accepted this file, so it changed since.
            raise DataError(
                f"{e}: the file changed after the data scan; run the same command again "
                "(or resume the run) to rescan and leave it out"
            ) from None
        return self._item(arr, i, cached=False)

    def _item(self, arr: np.ndarray, i: int, *, cached: bool):
        if self.masks:
            mask = self.cache.mask(i) if cached else self.targets(i, arr.shape[:2])
            out = self.transform(image=arr, mask=mask)
            return _chw(out["image"]), torch.as_tensor(out["mask"], dtype=torch.long)
        x = _chw(self.transform(image=arr)["image"])
        if self.targets is None:
            return x
        return x, torch.as_tensor(self.targets[i])


def _chw(x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(0) if x.ndim == 2 else x  # albumentations may drop a single channel axis
