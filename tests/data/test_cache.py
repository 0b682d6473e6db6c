"""The decode-once cache: same tensors as decoding every epoch, nothing decoded twice, never a
write inside the dataset, changed files and damaged cache files decoded again."""

from __future__ import annotations

import os
import pickle
import threading

import albumentations as A
import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import visionfit.data.cache as cache_mod
from visionfit.data.cache import DecodedCache, choose_mode, clear_memory_cache
from visionfit.data.datasets import ImageDataset
from visionfit.data.io import ImageDecodeError, decode_image
from visionfit.data.transforms import create_transforms
from visionfit.errors import VisionfitError

SIZE = 24


def _write_images(folder, n=10, seed=0):
    """Odd sizes and modes, so that the resize and the mode conversion both matter."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        h, w = int(rng.integers(20, 70)), int(rng.integers(20, 70))
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        img = Image.fromarray(arr)
        if i % 3 == 1:
            img = img.convert("L")
        elif i % 3 == 2:
            img = img.convert("RGBA")
        path = folder / f"img{i:02d}.{'jpg' if i == 4 else 'png'}"
        img.convert("RGB").save(path) if i == 4 else img.save(path)
        paths.append(str(path))
    return paths


@pytest.fixture()
def data(tmp_path):
    return _write_images(tmp_path / "data")


@pytest.fixture()
def cache_dir(tmp_path):
    return tmp_path / "cache"


@pytest.fixture()
def count_decodes(monkeypatch):
    calls = []

    def counting(source, **kw):
        calls.append(source)
        return decode_image(source, **kw)

    monkeypatch.setattr(cache_mod, "decode_image", counting)
    return calls


class _CachedDataset(ImageDataset):
    """ImageDataset's item logic with the array read from a cache instead of decoded."""

    def __init__(self, cache, targets, transform, seed):
        super().__init__(list(range(len(cache))), targets, transform, seed=seed)
        self.cache = cache

    def __getitem__(self, key):
        epoch, i = key
        self._reseed(int(epoch), int(i))
        if self.masks:
            out = self.transform(image=self.cache[i], mask=self.cache.mask(i))
            return out["image"], torch.as_tensor(out["mask"], dtype=torch.long)
        x = self.transform(image=self.cache[i])["image"]
        if x.ndim == 2:
            x = x.unsqueeze(0)
        return x, torch.as_tensor(self.targets[i])


def _batches(ds, epochs=2, batch=4, seed=7):
    out = []
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(len(ds))
        for k in range(0, len(order), batch):
            items = [ds[(epoch, int(i))] for i in order[k : k + batch]]
            out.append((torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])))
    return out


@pytest.mark.parametrize(
    ("preset", "in_chans", "mode"),
    [("heavy", 3, "memory"), ("medium", 1, "disk"), ("none", 3, "none")],
)
def test_cached_and_uncached_batches_are_identical(data, cache_dir, preset, in_chans, mode):
    targets = np.arange(len(data)) % 3
    mean, std = (0.5,) * in_chans, (0.25,) * in_chans

    def tf():
        return create_transforms(preset, SIZE, mean, std, train=preset != "none")

    plain = ImageDataset(data, targets, tf(), in_chans, seed=5)
    cache = DecodedCache.build(data, size=SIZE, in_chans=in_chans, mode=mode, cache_dir=cache_dir)
    assert cache.mode == mode
    cached = _CachedDataset(cache, targets, tf(), seed=5)
    a, b = _batches(plain), _batches(cached)
    assert len(a) == len(b) == 6
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert xa.shape == (len(ya), in_chans, SIZE, SIZE)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # the cached arrays are already at the size, so the pipeline's own Resize returns them as is
    resize = A.Resize(SIZE, SIZE, interpolation=cv2.INTER_AREA)
    arr = cache[3]
    assert resize(image=arr)["image"] is arr or np.array_equal(resize(image=arr)["image"], arr)


class _Masks:
    """A mask reader like the segmentation task's MaskTargets: len() and (i, shape) -> mask."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __call__(self, i, shape):
        m = np.zeros(shape, np.uint8)
        m[: shape[0] // 2, : shape[1] // 3] = 1 + i % 2
        m[-4:, -6:] = 3
        return m


def test_cached_and_uncached_segmentation_batches_are_identical(data, cache_dir):
    """Image and mask through the one dataset class (a mask reader as its targets)."""

    def tf():
        return create_transforms("medium", SIZE, (0.5,) * 3, (0.25,) * 3, train=True)

    masks = _Masks(len(data))
    plain = ImageDataset(data, masks, tf(), seed=3)
    keys = [f"mask{i}" for i in range(len(data))]
    kw = {"size": SIZE, "masks": masks, "mask_keys": keys, "cache_dir": cache_dir}
    for mode in ("disk", "memory"):
        cache = DecodedCache.build(data, mode=mode, **kw)
        cached = _CachedDataset(cache, masks, tf(), seed=3)
        for (xa, ya), (xb, yb) in zip(_batches(plain), _batches(cached), strict=True):
            assert ya.dtype == torch.long and ya.shape == (len(ya), SIZE, SIZE)
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_second_build_and_every_epoch_decode_nothing(data, cache_dir, count_decodes):
    first = DecodedCache.build(data, size=SIZE, mode="disk", cache_dir=cache_dir)
    assert len(count_decodes) == len(data) and first.decoded == len(data)
    count_decodes.clear()
    second = DecodedCache.build(data, size=SIZE, mode="disk", cache_dir=cache_dir)
    assert second.decoded == 0 and "0 decoded now" in second.describe()
    mem = DecodedCache.build(data, size=SIZE, mode="memory")
    count_decodes.clear()
    for _epoch in range(3):
        for i in range(len(data)):
            assert np.array_equal(second[i], mem[i])
    assert count_decodes == []
    # `none` decodes on every access, by design
    none = DecodedCache.build(data, size=SIZE, mode="none")
    none[0], none[0]
    assert len(count_decodes) == 2 and none.nbytes == 0


def test_memory_disk_and_none_give_identical_arrays(data, cache_dir):
    caches = [
        DecodedCache.build(data, size=SIZE, mode=m, cache_dir=cache_dir)
        for m in ("memory", "disk", "none")
    ]
    for i in range(len(data)):
        arrays = [c[i] for c in caches]
        assert arrays[0].shape == (SIZE, SIZE, 3) and arrays[0].dtype == np.uint8
        assert all(np.array_equal(arrays[0], a) for a in arrays[1:])
    assert caches[0].nbytes == caches[1].nbytes == len(data) * SIZE * SIZE * 3
    # a copy each time: a transform writing into its input cannot change the cache
    caches[1][0][:] = 0
    assert np.array_equal(caches[1][0], caches[0][0])


def test_a_changed_file_is_read_again(data, cache_dir, count_decodes):
    DecodedCache.build(data, size=SIZE, mode="disk", cache_dir=cache_dir)
    count_decodes.clear()
    new = np.full((40, 30, 3), 200, np.uint8)
    Image.fromarray(new).save(data[2])
    st = os.stat(data[2])
    os.utime(data[2], ns=(st.st_atime_ns, st.st_mtime_ns - 10**9))  # same size, older mtime
    cache = DecodedCache.build(data, size=SIZE, mode="disk", cache_dir=cache_dir)
    assert cache.decoded == 1 and count_decodes == [data[2]]
    assert np.array_equal(cache[2], np.full((SIZE, SIZE, 3), 200, np.uint8))


def _tree(folder):
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_mtime_ns, p.stat().st_size)
        for p in [folder, *folder.rglob("*")]
    )


def test_the_cache_never_writes_inside_the_dataset(tmp_path, cache_dir, monkeypatch):
    data_dir = tmp_path / "ro"
    paths = _write_images(data_dir, n=4)
    before = _tree(data_dir)
    for p in [data_dir, *data_dir.iterdir()]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        monkeypatch.setenv("VISIONFIT_CACHE", str(cache_dir))  # the default cache folder
        cache = DecodedCache.build(paths, size=SIZE, mode="disk")
        assert cache.path is not None and cache_dir in cache.path.parents
        DecodedCache.build(paths, size=SIZE, mode="memory")
        with pytest.raises(VisionfitError, match="inside the dataset folder"):
            DecodedCache.build(paths, size=SIZE, mode="disk", cache_dir=data_dir / "sub")
        assert _tree(data_dir) == before
    finally:
        for p in [data_dir, *data_dir.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def test_a_damaged_cache_file_is_rebuilt_not_trusted(data, cache_dir, count_decodes):
    good = DecodedCache.build(data, size=SIZE, mode="memory")
    cache = DecodedCache.build(data, size=SIZE, mode="disk", cache_dir=cache_dir)
    path = cache.path
    layout = cache._layout
    del cache
    # one flipped byte inside row 5: that row alone is decoded again
    with open(path, "r+b") as f:
        f.seek(layout.image_offset + 5 * SIZE * SIZE * 3 + 17)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    count_decodes.clear()
    again = DecodedCache.build(data, size=SIZE, mode="disk", cache_dir=cache_dir)
    assert again.decoded == 1 and count_decodes == [data[5]]
    assert all(np.array_equal(again[i], good[i]) for i in range(len(data)))
    # truncated, or not a cache file at all: everything is decoded again
    for damage in (lambda b: b[: len(b) // 2], lambda b: b"garbage" + b[7:]):
        path.write_bytes(damage(path.read_bytes()))
        rebuilt = DecodedCache.build(data, size=SIZE, mode="disk", cache_dir=cache_dir)
        assert rebuilt.decoded == len(data)
        assert all(np.array_equal(rebuilt[i], good[i]) for i in range(len(data)))
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".tmp"] == []


def test_two_builders_of_one_cache_decode_it_once(data, cache_dir):
    results = []

    def build():
        results.append(DecodedCache.build(data, size=SIZE, mode="disk", cache_dir=cache_dir))

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.decoded for r in results) == [0, len(data)]
    assert all(np.array_equal(results[0][i], results[1][i]) for i in range(len(data)))


def test_masks_nearest_resize_keys_and_views(tmp_path, cache_dir, count_decodes):
    paths = _write_images(tmp_path / "seg", n=4)
    version = {"v": 0}

    def mask_of(i, shape):
        m = np.zeros(shape, np.uint8)
        m[: shape[0] // 2, :] = (i + version["v"]) % 3
        m[-3:, -5:] = 2
        return m

    kw = {"size": SIZE, "masks": mask_of, "cache_dir": cache_dir}
    disk = DecodedCache.build(paths, mode="disk", mask_keys=["a"] * 4, **kw)
    mem = DecodedCache.build(paths, mode="memory", **kw)
    for i, p in enumerate(paths):
        img = decode_image(p)
        want = A.Resize(SIZE, SIZE, interpolation=cv2.INTER_AREA)(
            image=img, mask=mask_of(i, img.shape[:2])
        )
        assert np.array_equal(disk.mask(i), want["mask"]) and np.array_equal(
            mem.mask(i), want["mask"]
        )
        assert set(np.unique(disk.mask(i))) <= {0, 1, 2}  # nearest: no blended class values
        assert np.array_equal(disk[i], want["image"])
    version["v"] = 1  # new masks under new keys are decoded again
    count_decodes.clear()
    again = DecodedCache.build(paths, mode="disk", mask_keys=["a", "b", "a", "a"], **kw)
    img = decode_image(paths[1])
    want = A.Resize(SIZE, SIZE, mask_interpolation=cv2.INTER_NEAREST)(
        image=img, mask=mask_of(1, img.shape[:2])
    )["mask"]
    assert again.decoded == 1 and count_decodes == [paths[1]]
    assert np.array_equal(again.mask(1), want) and not np.array_equal(want, mem.mask(1))
    assert np.array_equal(again.mask(0), mem.mask(0))  # kept from the file
    view = again.view([paths[3], paths[0]])
    assert len(view) == 2 and np.array_equal(view[0], again[3]) and view.mode == "disk"
    with pytest.raises(ValueError, match="among the items"):
        again.view([str(tmp_path / "other.png")])
    with pytest.raises(ValueError, match="without masks"):
        DecodedCache.build(paths, size=SIZE, mode="none").mask(0)


def test_a_disk_cache_pickles_as_a_reference_not_a_copy(tmp_path, cache_dir):
    paths = _write_images(tmp_path / "big", n=6)
    cache = DecodedCache.build(paths, size=64, mode="disk", cache_dir=cache_dir)
    blob = pickle.dumps(cache)
    assert len(blob) < cache.nbytes / 4
    clone = pickle.loads(blob)
    assert all(np.array_equal(clone[i], cache[i]) for i in range(len(paths)))


def test_auto_chooses_by_size_and_says_why(data, cache_dir):
    mb = 1 << 20
    assert choose_mode(10 * mb, 3000, all_paths=True, available_ram=100 * mb, free_disk=0)[0] == (
        "memory"
    )
    mode, why = choose_mode(
        30 * mb, 3000, all_paths=True, available_ram=100 * mb, free_disk=1 << 40
    )
    assert mode == "disk" and "25%" in why
    assert (
        choose_mode(30 * mb, 3000, all_paths=False, available_ram=100 * mb, free_disk=1 << 40)[0]
        == "none"
    )
    mode, why = choose_mode(
        30 * mb, 2 * mb, all_paths=True, available_ram=100 * mb, free_disk=1 << 40
    )
    assert mode == "none" and "per image" in why
    mode, why = choose_mode(
        30 * mb, 3000, all_paths=True, available_ram=100 * mb, free_disk=50 * mb
    )
    assert mode == "none" and "free in the cache folder" in why
    auto = DecodedCache.build(data, size=SIZE, cache_dir=cache_dir)  # tiny: memory
    assert auto.mode == "memory" and "available RAM" in auto.describe()
    with pytest.raises(VisionfitError, match="choose from auto, memory, disk, none"):
        DecodedCache.build(data, size=SIZE, mode="ram")


def test_a_file_broken_after_the_scan_is_refused_not_fatal(data, cache_dir):
    with open(data[1], "wb") as f:
        f.write(b"not an image")
    cache = DecodedCache.build(data, size=SIZE, mode="disk", cache_dir=cache_dir)
    ((item, err),) = cache.refused_items().items()
    assert item.endswith("img01.png") and err.reason == "not an image"
    with pytest.raises(ImageDecodeError):
        cache[1]
    assert list((cache_dir / "decoded").glob("*.tmp")) == []


def test_a_second_memory_build_in_the_process_reuses_the_arrays(data, count_decodes):
    clear_memory_cache()
    first = DecodedCache.build(data, size=SIZE, mode="memory")
    count_decodes.clear()
    second = DecodedCache.build(data, size=SIZE, mode="memory")
    assert second.decoded == 0 and count_decodes == [] and "previous build" in second.describe()
    assert all(np.array_equal(first[i], second[i]) for i in range(len(data)))
    other = DecodedCache.build(data, size=SIZE + 1, mode="memory")  # other settings: decoded
    assert other.decoded == len(data)
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(data[0])  # a changed file: decoded
    count_decodes.clear()
    third = DecodedCache.build(data, size=SIZE + 1, mode="memory")
    assert third.decoded == len(data) and np.array_equal(third[0], np.zeros((25, 25, 3), np.uint8))
    clear_memory_cache()
    assert DecodedCache.build(data, size=SIZE + 1, mode="memory").decoded == len(data)
