"""The data side of `train_split`: the decode-once cache and the seeded, resumable loaders.

`decoded_cache` builds (once per dataset and size) the cache every fold, refit and resume reuse;
`usable_rows` leaves out what it refused; `create_loaders` builds the train loader (seeded order
and augmentation, its position saved in mid-epoch checkpoints) and the val loader; `ShardLoaders`
gives each process its shard of both once the Trainer has started them.
"""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from visionfit.config import RunConfig
from visionfit.data.augment import create_augment, fill_masks
from visionfit.data.datasets import DecodeRefusals, ImageDataset, collate_decoded
from visionfit.data.samplers import ShardSampler
from visionfit.data.transforms import transforms_for
from visionfit.engine.dist import world_size
from visionfit.engine.refusals import cache_refusals, leave_out_refused, refusals_log
from visionfit.engine.resumable import EpochSampler, ResumableDataLoader
from visionfit.progress import progress as show_progress
from visionfit.tasks.base import Task, TaskData


def default_workers() -> int:
    """Background decoding pays off from 3 cores up; on 2 cores the main process does it."""
    n = os.cpu_count() or 1
    return 0 if n <= 2 else min(8, n - 1)


def with_intensity(cfg: RunConfig, data: TaskData, train_df, pre):
    """`pre` with the run's intensity mapping fitted on `train_df`'s images (data/intensity.py).
    ``auto`` follows the scan's pixel types of every file of the dataset (val and test too: they
    are fed alike) where the task read them: none when all are 8-bit (nothing decoded then),
    percentile when any is not."""
    from dataclasses import replace

    from visionfit.data.intensity import fit_intensity

    images = list(train_df["image"])
    types = [data.pixel_types.get(p) for p in data.df["image"]]
    mode = cfg.data.intensity
    if mode == "auto" and types and all(types):
        if all(t == "uint8" for t in types):
            return replace(pre, intensity=None)
        mode = "percentile"  # a 16-bit file the sample may miss still needs the float path
    found = fit_intensity(
        images,
        mode,
        in_chans=cfg.data.in_chans,
        max_pixels=cfg.data.max_pixels,
        seed=cfg.train.seed,
    )
    return replace(pre, intensity=found)


def decoded_cache(task: Task, cfg: RunConfig, data: TaskData, pre, *, progress: bool = False):
    """The decode-once cache of the whole dataset (data/cache.py), built on first use and kept
    on `data`, so every fold, the refit and a resume reuse it; None with `data.cache: none`
    and with `--resize crop` (`pre`, the run's resolved preprocessing): RandomResizedCrop
    resamples the decoded file, and no stored square would give the same pixels."""
    if cfg.data.cache == "none":
        return None
    if pre.resize == "crop":
        if progress:
            from rich.console import Console

            Console(stderr=True).print(
                "decoded cache: none (--resize crop crops and resamples each decoded file; a "
                "cached square would give other pixels)",
                highlight=False,
            )
        return None
    kept = kept_cache(cfg, data, pre)
    if kept is not None:
        return kept
    key = _cache_key(cfg, pre)
    from visionfit.data.cache import DecodedCache

    masks, mask_keys = task.cache_masks(cfg, data)
    images = list(data.df["image"])
    with show_progress("decoding into the cache", len(images), "images", enabled=progress) as bar:
        cache = _build_cache(DecodedCache, images, cfg, pre, masks, mask_keys, bar.update)
    data.extra["decoded_cache"] = (key, cache)
    if progress:
        from rich.console import Console

        Console(stderr=True).print(cache.describe(), highlight=False)
    return cache


def _build_cache(DecodedCache, images, cfg: RunConfig, pre, masks, mask_keys, progress):
    return DecodedCache.build(
        images,
        size=cfg.augment.img_size,
        resize=pre.resize,
        interpolation=pre.interpolation,
        in_chans=cfg.data.in_chans,
        max_pixels=cfg.data.max_pixels,
        mode=cfg.data.cache,
        masks=masks,
        mask_keys=mask_keys,
        dtype="uint8" if pre.intensity is None else "float32",  # the values of high-bit data
        window=cfg.data.window,
        progress=progress,
    )


def _cache_key(cfg: RunConfig, pre=None) -> tuple:
    # `pre`: the resolved preprocessing (None: the options as given, e.g. "auto")
    aug = pre if pre is not None else cfg.augment
    return (
        cfg.augment.img_size,
        cfg.data.in_chans,
        cfg.data.max_pixels,
        cfg.data.window,
        cfg.data.cache,
        aug.resize,
        aug.interpolation,
        getattr(aug, "intensity", None) is not None,  # a float32 cache
    )


def kept_cache(cfg: RunConfig, data: TaskData, pre=None):
    """The decode-once cache kept on `data` if it was built for `cfg`'s size and channels and
    `pre`'s resize and interpolation."""
    kept = data.extra.get("decoded_cache")
    return kept[1] if kept is not None and kept[0] == _cache_key(cfg, pre) else None


def create_loaders(
    task, cfg, data, train_df, val_df, pre, *, refusals: DecodeRefusals | None = None
) -> tuple[ResumableDataLoader, DataLoader | None]:
    """The seeded, resumable train loader and the val loader (None without val rows).

    With `refusals`, an image the decoder refuses in a loader (the scan accepted it) is recorded
    there and left out of its batch (`collate_decoded`); without, it raises DataError."""
    tc = cfg.train
    train_tf = transforms_for(create_augment(cfg.augment), pre, train=True)
    if data.extra.get("mask_fill") is not None:  # e.g. segmentation's ignore value
        fill_masks(train_tf, data.extra["mask_fill"])
    eval_tf = transforms_for("none", pre, train=False)
    workers = cfg.data.workers or 0
    loader_kw = {
        "num_workers": workers,
        "persistent_workers": workers > 0,
        "pin_memory": torch.cuda.is_available(),
        "collate_fn": collate_decoded,
    }
    data_kw = {"max_pixels": cfg.data.max_pixels, "seed": tc.seed, "refusals": refusals}
    data_kw["window"] = cfg.data.window
    cache = kept_cache(cfg, data, pre)  # one of another size would feed the network wrong pixels
    # Every sample once per epoch; only a last batch of a single image is dropped (BatchNorm
    # cannot train on one). Order and augmentation are seeded per epoch and sample, and the
    # loader's position is saved in mid-epoch checkpoints (see engine/resumable.py).
    sampler = task.train_sampler(cfg, data, train_df) or EpochSampler(len(train_df), tc.seed)
    # With several processes each trains on its shard of every epoch's order (data/samplers.py)
    shard_len = -(-len(train_df) // world_size(cfg))
    train_ds = ImageDataset(
        train_df["image"],
        task.dataset_targets(cfg, data, train_df),
        train_tf,
        cfg.data.in_chans,
        cache=cache.view(train_df["image"]) if cache is not None else None,
        **data_kw,
    )
    train_loader = ResumableDataLoader(
        train_ds,
        sampler=sampler,
        batch_size=tc.batch_size,
        drop_last=shard_len % tc.batch_size == 1,
        **loader_kw,
    )
    val_loader = None
    if val_df is not None and len(val_df):
        targets = task.dataset_targets(cfg, data, val_df)
        val_cache = cache.view(val_df["image"]) if cache is not None else None
        val_ds = ImageDataset(
            val_df["image"], targets, eval_tf, cfg.data.in_chans, cache=val_cache, **data_kw
        )
        val_loader = DataLoader(
            val_ds, batch_size=tc.eval_batch_size, sampler=ShardSampler(len(val_df)), **loader_kw
        )
    return train_loader, val_loader


class ShardLoaders(L.Callback):
    """Give each process its shard of the train and validation samples, once the Trainer has
    started them (a single process keeps everything)."""

    def __init__(self, *loaders):
        self.samplers = [loader.sampler for loader in loaders if loader is not None]

    def setup(self, trainer, pl_module, stage):
        for sampler in self.samplers:
            sampler.rank, sampler.world = trainer.global_rank, trainer.world_size


def usable_rows(task, cfg, data, train_df, val_df, out_dir: Path, progress: bool, pre):
    """Build the decode-once cache; leave out what it refused (the scan accepted it) before the
    loaders exist; and the side file the loaders record their own refusals in."""
    cache = decoded_cache(task, cfg, data, pre, progress=progress)
    train_df, val_df = leave_out_refused(data, out_dir, cache_refusals(cache), train_df, val_df)
    return train_df, val_df, refusals_log(out_dir)
