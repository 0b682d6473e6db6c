"""Seeded samplers: the order of every epoch derived from the run's seed, so that a resumed run
draws exactly what an uninterrupted one would (see engine/resumable.py)."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler


def derive_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (numpy's SeedSequence hashing)."""
    return int(
        np.random.SeedSequence([int(p) & (2**63 - 1) for p in parts]).generate_state(1, np.uint64)[
            0
        ]
        >> 1
    )


class EpochSampler(Sampler):
    """Yields ``(epoch, index)`` keys: a permutation seeded by ``(seed, epoch)``, or the identity;
    with `weights`, ``n`` draws with replacement in proportion to them (a balanced sampler).

    `set_epoch` is called by Lightning before each epoch. `start_at` skips the first samples of
    the current epoch once (used when a run resumes in the middle of an epoch).
    """

    def __init__(self, n: int, seed: int, shuffle: bool = True, weights=None):
        self.n, self.seed, self.shuffle = int(n), int(seed), shuffle
        self.p = None if weights is None else np.asarray(weights, np.float64) / np.sum(weights)
        self.epoch = 0
        self._start = 0

    def set_epoch(self, epoch: int) -> None:
        if int(epoch) != self.epoch:
            self.epoch = int(epoch)
            self._start = 0

    def start_at(self, epoch: int, samples: int) -> None:
        self.epoch, self._start = int(epoch), int(samples)

    def __len__(self) -> int:
        return self.n

    def order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng(derive_seed(self.seed, 2, epoch))
        if self.p is not None:
            return rng.choice(self.n, size=self.n, replace=True, p=self.p)
        if not self.shuffle:
            return np.arange(self.n)
        return rng.permutation(self.n)

    def __iter__(self):
        epoch, start = self.epoch, self._start
        self._start = 0
        for i in self.order(epoch)[start:]:
            yield (epoch, int(i))
