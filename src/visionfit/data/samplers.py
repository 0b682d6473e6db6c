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
        self.rank, self.world = 0, 1  # this process's shard; set by the trainer (DDP)

    def set_epoch(self, epoch: int) -> None:
        if int(epoch) != self.epoch:
            self.epoch = int(epoch)
            self._start = 0

    def start_at(self, epoch: int, samples: int) -> None:
        self.epoch, self._start = int(epoch), int(samples)

    def __len__(self) -> int:
        return -(-self.n // self.world)  # every process the same number (padded), or DDP hangs

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
        for i in shard(self.order(epoch), self.rank, self.world)[start:]:
            yield (epoch, int(i))


def shard(order: np.ndarray, rank: int, world: int) -> np.ndarray:
    """This process's part of an epoch's order: every world-th item from `rank`, the order padded
    by wrapping so that every process gets as many (as torch's DistributedSampler does)."""
    if world == 1:
        return order
    total = -(-len(order) // world) * world
    padded = np.concatenate([order, order[: total - len(order)]])
    return padded[rank::world]


class ShardSampler(Sampler):
    """Validation order: this process's every world-th sample, not padded (so that the metrics,
    gathered over the processes, cover each validation image exactly once).
    `rank` and `world` are set when the Trainer has started its processes (engine/trainer.py)."""

    def __init__(self, n: int):
        self.n, self.rank, self.world = int(n), 0, 1

    def _indices(self) -> range:
        return range(self.rank, self.n, self.world)

    def __len__(self) -> int:
        return len(self._indices())

    def __iter__(self):
        return iter(self._indices())
