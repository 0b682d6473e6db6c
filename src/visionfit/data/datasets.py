"""Torch datasets over the samples table, decoding with the one shared decoder."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from visionfit.data.io import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_image, file_sha1
from visionfit.errors import DataError


class DecodeRefusals:
    """Files a decode refused although the scan had accepted them, recorded while training.

    DataLoader workers are separate processes, so each refusal is one line appended to a JSON
    lines side file (``O_APPEND``: concurrent writers do not interleave short lines); the main
    process reads it (`read`) and merges it into the run's skipped.csv (`skipped_rows`).
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def record(self, image, error: ImageDecodeError) -> None:
        line = {"image": str(image), "reason": error.reason, "detail": str(error.detail or "")}
        data = (json.dumps(line) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def read(self) -> dict[str, tuple[str, str]]:
        """{image: (reason, detail)}, the first refusal of each file."""
        out: dict[str, tuple[str, str]] = {}
        try:
            text = self.path.read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            return out
        for raw in text.splitlines():
            try:
                row = json.loads(raw)
            except ValueError:  # a line cut short by a kill: the file is refused again later
                continue
            out.setdefault(row["image"], (row["reason"], row["detail"]))
        return out


def skipped_rows(
    refused: dict[str, tuple[str, str]], labels: dict[str, str], sha1: dict[str, str]
) -> list[tuple[str, str, str, str]]:
    """skipped.csv rows (image, label, reason, detail) for files refused after the scan.

    The detail says "changed after the data scan" only when the file's content (its SHA-1, as
    the scan recorded it) did change or the file is gone; otherwise it is what the decoder said.
    """
    rows = []
    for image, (reason, detail) in refused.items():
        changed = changed_since_scan(image, sha1.get(image))
        what = detail or reason
        if changed:
            what = f"the file changed after the data scan; now: {what}"
        elif changed is None:
            what = f"{what} (refused after the data scan accepted it)"
        else:
            what = f"{what} (refused after the data scan accepted it; file unchanged)"
        rows.append((image, labels.get(image, ""), reason, what))
    return rows


def changed_since_scan(image: str, scan_sha1: str | None) -> bool | None:
    """True when the file differs from what the scan hashed (or is gone), False when it is the
    same bytes, None when the scan's hash is not known."""
    if not scan_sha1:
        return None
    try:
        return file_sha1(image) != scan_sha1
    except ImageDecodeError:  # missing or unreadable now
        return True


def collate_decoded(batch: list):
    """`default_collate` of the items the decoder did not refuse (None); None when no item is
    left (Lightning skips a None training batch)."""
    kept = [item for item in batch if item is not None]
    return default_collate(kept) if kept else None


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
        refusals: DecodeRefusals | None = None,
        window: str | None = None,
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
        self.window = window  # DICOM --window (data/dicom.py)
        self.seed = seed
        # A data.cache view (decoded, resized arrays, row i = image i): nothing decoded per epoch
        if cache is not None and len(cache) != len(self.images):
            raise ValueError("cache and images differ in length")
        self.cache = cache
        # Where an item the decoder refuses is recorded (then it is left out of its batch);
        # None: such an item raises DataError.
        self.refusals = refusals

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
        try:
            if self.cache is not None:
                return self._item(self.cache[i], i, cached=True)
            arr = decode_image(
                self.images[i],
                in_chans=self.in_chans,
                max_pixels=self.max_pixels,
                window=self.window,
            )
            return self._item(arr, i, cached=False)
        except ImageDecodeError as e:
            # The scan before training accepted this file; a later decode does not.
            if self.refusals is None:
                raise DataError(
                    f"{e}: refused by the decoder after the data scan accepted it; run the same "
                    "command again (or resume the run) to rescan and leave it out"
                ) from None
            self.refusals.record(self.images[i], e)
            return None  # left out of its batch by `collate_decoded`, never replaced

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
