"""Decode once: images (and masks) decoded and resized to arrays, kept for every epoch.

    >>> cache = DecodedCache.build(paths, size=64, in_chans=3, mode="auto")  # doctest: +SKIP
    >>> cache.describe()          # "decoded cache: memory, 1,797 images of 64x64x3 = 22 MB ..."
    >>> arr = cache[0]            # (64, 64, 3) uint8, a fresh copy
    >>> m = cache.mask(0)         # (64, 64) uint8, when built with masks=
    >>> view = cache.view(train_paths)  # the same rows, indexed by a subset's own order

Every item is decoded with `visionfit.data.io.decode_image` (the one decoder) and brought to a
``size x size`` square by `visionfit.data.transforms.FitSquare`, the first op of every
squash or pad pipeline (`--resize`, data/preprocess.py: squashed, or aspect kept and padded;
cv2 ``INTER_AREA`` by default; masks with nearest neighbour). A pipeline that starts with that
op therefore gives identical tensors on cached arrays: it sees the target square and returns the
array unchanged. `--resize crop` has no cache: its RandomResizedCrop resamples the decoded file
itself, which no stored square reproduces.

uint8 arrays; a run with an intensity mapping (16-bit, float data) builds ``dtype="float32"``: the
values (16-bit integers exact, float16 would round those above 2048), four times the bytes.

Modes (``--cache``, config ``data.cache``):

``memory``  one ``(N, S, S, C)`` array in this process. DataLoader workers started by ``fork``
            (Linux's default) share its pages; under ``spawn`` each worker gets a copy.
``disk``    a file under ``<cache dir>/decoded/`` (`scan_cache.default_cache_dir`, honours
            ``$VISIONFIT_CACHE``), memory-mapped read-only; workers reopen it rather than copy it.
            Keyed by the decode settings (size, channels, interpolations, pixel cap, format
            version) and the ordered list of items; each row also records its file's identity
            (size, mtime, ctime, inode) and a CRC-32, verified when the cache is opened (one
            sequential read). Rows of changed files and damaged rows are decoded again; the file is
            written to a temporary name and renamed (atomic), under a lock file so that a second
            process building the same cache waits and then decodes nothing. Never written inside
            the dataset: a cache folder inside an image's folder is refused.
``none``    nothing kept: each access decodes and resizes the file (the same arrays).
``auto``    memory when the arrays take at most 25% of the available RAM (``MemAvailable``);
            else disk when every item is a path, one image's array is at most 1 MiB (beyond
            that, about 590 px RGB, a disk cache is many times the size of typical JPEGs and
            reads no faster than they decode) and it takes at most half the cache folder's free
            space; else none. `describe()` says which and why.

Build the cache once over all samples of a dataset (every fold of a cross-validation then reuses
it) and give each split a `view` of its own items. The last memory-mode build of paths stays in
the process: a new build of the same items and settings whose files are unchanged (one ``stat``
each) reuses its arrays, so the trials of a `tune` study decode the data once;
`clear_memory_cache()` lets them go.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from visionfit.data import _decoded_file as dfile
from visionfit.data.bounded import imap_unordered, window_for
from visionfit.data.io import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_image
from visionfit.data.preprocess import DEFAULT_CROP_PCT
from visionfit.data.scan_cache import default_cache_dir, file_key
from visionfit.data.transforms import FitSquare
from visionfit.errors import VisionfitError

__all__ = ["CACHE_MODES", "CacheView", "DecodedCache", "choose_mode", "clear_memory_cache"]

CACHE_MODES = ("auto", "memory", "disk", "none")
MEMORY_SHARE = 0.25  # of the available RAM
DISK_SHARE = 0.5  # of the cache folder's free space
DISK_MAX_IMAGE_BYTES = 1 << 20

MaskFn = Callable[[int, tuple[int, int]], np.ndarray]

# The last memory-mode build of path items, kept so that the next run in this process on the same
# unchanged files (the trials of `tune`, repeated `fit` calls in a notebook) decodes nothing.
_LAST_MEMORY: tuple[tuple, tuple[np.ndarray, np.ndarray | None]] | None = None


def clear_memory_cache() -> None:
    """Drop the arrays kept from the last memory-mode build (see `DecodedCache.build`)."""
    global _LAST_MEMORY
    _LAST_MEMORY = None


def _memo_key(items: Sequence[str], settings: dict, mask_keys) -> tuple:
    stamps = tuple(file_key(p) for p in items)  # one stat per file: a change is seen
    return (repr(sorted(settings.items())), tuple(items), stamps, tuple(mask_keys or ()))


def _available_ram() -> int:
    try:
        with open("/proc/meminfo") as f:
            m = re.search(r"^MemAvailable:\s+(\d+) kB", f.read(), re.M)
        if m:
            return int(m.group(1)) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def _free_disk(folder: Path) -> int:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def _mb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def choose_mode(
    total_bytes: int,
    image_bytes: int,
    *,
    all_paths: bool,
    available_ram: int,
    free_disk: int,
) -> tuple[str, str]:
    """What ``auto`` picks for a cache of `total_bytes` (`image_bytes` per image), and why."""
    if total_bytes <= MEMORY_SHARE * available_ram:
        return "memory", f"≤ {MEMORY_SHARE:.0%} of {_mb(available_ram)} available RAM"
    why = f"> {MEMORY_SHARE:.0%} of {_mb(available_ram)} available RAM"
    if not all_paths:
        return "none", f"{why}, and in-memory images cannot be cached on disk"
    if image_bytes > DISK_MAX_IMAGE_BYTES:
        return "none", f"{why}, and {_mb(image_bytes)} per image is too large to pay off on disk"
    if total_bytes > DISK_SHARE * free_disk:
        return "none", f"{why}, and > {DISK_SHARE:.0%} of {_mb(free_disk)} free in the cache folder"
    return "disk", why


class _Decoder:
    """Decode + resize one item exactly like the transforms' first op (thread-safe)."""

    def __init__(self, items, settings: dict, masks: MaskFn | None):
        self.items, self.settings, self.masks = items, settings, masks
        self._local = threading.local()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def _resize(self) -> FitSquare:
        op = getattr(self._local, "resize", None)
        if op is None:
            s = self.settings
            op = FitSquare(s["resize"], s["size"], s["interpolation"], DEFAULT_CROP_PCT)
            self._local.resize = op
        return op

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Item i's resized arrays; raises ImageDecodeError (with the decoder's own reason)."""
        s, item = self.settings, self.items[i]
        img = decode_image(
            item, in_chans=s["in_chans"], max_pixels=s["max_pixels"], window=s.get("window")
        )
        if img.dtype != np.uint8 and "dtype" not in s:  # an 8-bit cache would wrap its values
            why = f"{img.dtype} values in a run of 8-bit images: give --intensity percentile"
            raise ImageDecodeError(
                item if isinstance(item, str) else None, "unsupported format", why
            )
        if self.masks is None:
            out = self._resize()(image=img)["image"]
            mask = None
        else:
            res = self._resize()(image=img, mask=self.masks(i, img.shape[:2]))
            out, mask = res["image"], res["mask"]
        if out.ndim == 2:
            out = out[:, :, None]
        return out, mask


class DecodedCache:
    """Decoded, resized images (and masks) by index; build with `DecodedCache.build`."""

    def __init__(self, decoder: _Decoder, mode: str, reason: str, n: int, *, decoded: int = 0):
        self._decoder, self.mode, self.reason, self._n = decoder, mode, reason, n
        self.decoded = decoded  # items decoded while building (0: all reused from disk)
        self.path: Path | None = None
        self._images: np.ndarray | None = None
        self._masks: np.ndarray | None = None
        self._layout: dfile.Layout | None = None
        self._index: dict | None = None
        # rows the decoder refused while building (the scan had accepted them): never served,
        # zeros in the arrays; see `refused_items`
        self.refused: dict[int, ImageDecodeError] = {}

    @classmethod
    def build(
        cls,
        items: Sequence,
        *,
        size: int,
        in_chans: int = 3,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        mode: str = "auto",
        cache_dir: str | os.PathLike | None = None,
        resize: str = "squash",
        interpolation: str = "area",
        masks: MaskFn | None = None,
        mask_keys: Sequence[str] | None = None,
        threads: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        dtype: str = "uint8",
        window: str | None = None,
    ) -> DecodedCache:
        """Decode `items` (paths, or anything `decode_image` takes) once, as `mode` says.

        `masks(i, (H, W))` gives item i's full-size class-index mask (uint8 HxW); `mask_keys[i]`
        a string that changes whenever that mask does (its file's `file_key`, the RLE text, the
        mask settings), needed for the disk mode. `progress(done, total)` is called while decoding.
        `dtype`: uint8 (8-bit data) or float32 (the decoded values of high-bit-depth data).
        """
        if mode not in CACHE_MODES:
            raise VisionfitError(
                f"unknown cache mode {mode!r}; choose from {', '.join(CACHE_MODES)}"
            )
        if resize not in ("squash", "pad"):  # crop: see engine/loaders.decoded_cache
            raise ValueError(f"a decoded cache stores squashed or padded squares, not {resize!r}")
        if masks is not None and mask_keys is not None and len(mask_keys) != len(items):
            raise ValueError("mask_keys and items differ in length")
        items = [os.path.abspath(os.fsdecode(p)) if _is_path(p) else p for p in items]
        settings = {
            "size": int(size),
            "in_chans": int(in_chans),
            "max_pixels": int(max_pixels),
            "resize": resize,
            "interpolation": interpolation,
            "masks": masks is not None,
            **({"window": window} if window else {}),  # DICOM --window; absent: keys unchanged
        }
        if dtype != "uint8":  # only then: the files of 8-bit caches keep their names
            settings["dtype"] = str(np.dtype(dtype))
        decoder = _Decoder(items, settings, masks)
        folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        image_bytes = size * size * in_chans * np.dtype(dtype).itemsize
        total = len(items) * (image_bytes + (size * size if masks is not None else 0))
        all_paths = all(isinstance(p, str) for p in items)
        if mode == "auto":
            mode, reason = choose_mode(
                total,
                image_bytes,
                all_paths=all_paths and (masks is None or mask_keys is not None),
                available_ram=_available_ram(),
                free_disk=_free_disk(folder),
            )
        else:
            reason = "as asked"
        cache = cls(decoder, mode, reason, len(items))
        threads = threads or min(8, os.cpu_count() or 1)
        if mode == "memory":
            reusable = all_paths and (masks is None or mask_keys is not None)
            key = _memo_key(items, settings, mask_keys) if reusable else None
            cache._fill_memory(threads, progress, key)
        elif mode == "disk":
            if not all_paths or (masks is not None and mask_keys is None):
                raise VisionfitError("--cache disk needs image paths (and mask_keys for masks)")
            cache._open_disk(folder, mask_keys, threads, progress)
        return cache

    def _fill_memory(self, threads: int, progress, key: tuple | None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        global _LAST_MEMORY
        if key is not None and _LAST_MEMORY is not None and _LAST_MEMORY[0] == key:
            self._images, self._masks, refused = _LAST_MEMORY[1]
            self.refused = dict(refused)
            self.reason += "; the arrays of the previous build in this process, files unchanged"
            return
        _LAST_MEMORY = None  # let the previous arrays go before allocating new ones
        s = self._decoder.settings
        shape = (self._n, s["size"], s["size"], s["in_chans"])
        self._images = np.empty(shape, s.get("dtype", "uint8"))
        if s["masks"]:
            self._masks = np.empty((self._n, s["size"], s["size"]), np.uint8)

        def one(i: int) -> None:
            out = self._decode_or_refuse(i) or (0, 0)  # refused: zeros
            self._images[i] = out[0]
            if self._masks is not None:
                self._masks[i] = out[1]

        with ThreadPoolExecutor(threads) as pool:
            finished = imap_unordered(pool, one, range(self._n), window_for(threads))
            for done, _ in enumerate(finished, 1):
                if progress is not None:
                    progress(done, self._n)
        self.decoded = self._n
        if key is not None:
            _LAST_MEMORY = (key, (self._images, self._masks, dict(self.refused)))

    def _decode_or_refuse(self, i: int) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Item i decoded, or None (and recorded in `refused`) when the decoder refuses it: one
        file the scan accepted and a later decode does not must not end the build."""
        try:
            return self._decoder(i)
        except ImageDecodeError as e:
            self.refused[i] = e  # dict item assignment: safe from the pool's threads
            return None

    def _open_disk(self, folder: Path, mask_keys, threads: int, progress) -> None:
        items = self._decoder.items
        _refuse_inside_dataset(folder, items)
        s = self._decoder.settings
        path = dfile.cache_file(folder, s, items)
        keys = list(mask_keys) if mask_keys is not None else [""] * len(items)
        header = {
            "n": len(items),
            "shape": [s["size"], s["size"], s["in_chans"]],
            "masks": s["masks"],
            **({"dtype": s["dtype"]} if "dtype" in s else {}),
            "settings": s,
            "items": [[p, file_key(p), str(k)] for p, k in zip(items, keys, strict=True)],
        }
        try:
            self._layout, self.decoded = dfile.open_or_build(
                path, header, self._decode_or_refuse, threads=threads, progress=progress
            )
        except OSError as e:
            raise VisionfitError(
                f"cannot write the decoded-image cache in {folder}: {e.strerror or e}; "
                "set $VISIONFIT_CACHE to a writable folder, or use --cache memory or none"
            ) from None
        self.path = path
        self._images, self._masks = self._layout.arrays(path, "r")

    # ---- access

    def __len__(self) -> int:
        return self._n

    def _arrays(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self._images is None and self._layout is not None:  # unpickled in a worker
            self._images, self._masks = self._layout.arrays(self.path, "r")
        return self._images, self._masks

    def refused_items(self) -> dict:
        """{item: ImageDecodeError} for the items the decoder refused while building."""
        return {self._decoder.items[i]: e for i, e in sorted(self.refused.items())}

    def __getitem__(self, i: int) -> np.ndarray:
        """Row i (a copy); raises ImageDecodeError for a refused item, never its zeros."""
        if i in self.refused:
            raise self.refused[i]
        images, _ = self._arrays()
        if images is None:
            return self._decoder(i)[0]
        return np.array(images[i])

    def mask(self, i: int) -> np.ndarray:
        if not self._decoder.settings["masks"]:
            raise ValueError("this cache was built without masks")
        if i in self.refused:
            raise self.refused[i]
        _, masks = self._arrays()
        if masks is None:
            return self._decoder(i)[1]
        return np.array(masks[i])

    def view(self, items: Sequence) -> CacheView:
        """The rows of `items` (a subset of the build's items, any order) as a cache of its own."""
        if self._index is None:
            self._index = {_norm(p): k for k, p in enumerate(self._decoder.items)}
        try:
            rows = [self._index[_norm(p)] for p in items]
        except (KeyError, TypeError):
            raise ValueError(
                "view() items must be among the items the cache was built on"
            ) from None
        return CacheView(self, rows)

    @property
    def nbytes(self) -> int:
        """Bytes the cached arrays take (in RAM for memory, on disk for disk, 0 for none)."""
        images, masks = self._arrays()
        return sum(a.nbytes for a in (images, masks) if a is not None)

    def describe(self) -> str:
        s = self._decoder.settings
        shape = f"{s['size']}x{s['size']}x{s['in_chans']}"
        if "dtype" in s:
            shape += f" {s['dtype']}"
        text = f"decoded cache: {self.mode}, {self._n:,} images of {shape}"
        if self.mode != "none":
            text += f" = {_mb(self.nbytes)}"
        if self.mode == "disk":
            text += f" in {self.path}"
        text += f" ({self.reason}"
        if self.mode != "none":
            text += f"; {self.decoded:,} decoded now"
        return text + ")"

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if self._layout is not None:  # workers reopen the memmap instead of copying it
            state["_images"] = state["_masks"] = None
        return state


class CacheView:
    """Some rows of a `DecodedCache`, indexed 0..len-1 in the order they were asked for."""

    def __init__(self, cache: DecodedCache, rows: list[int]):
        self.cache, self.rows = cache, rows
        self.mode = cache.mode

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.cache[self.rows[i]]

    def mask(self, i: int) -> np.ndarray:
        return self.cache.mask(self.rows[i])

    def describe(self) -> str:
        return self.cache.describe()


def _is_path(p) -> bool:
    return isinstance(p, (str, os.PathLike))


def _norm(p):
    return os.path.abspath(os.fsdecode(p)) if _is_path(p) else id(p)


def _refuse_inside_dataset(folder: Path, items: Sequence[str]) -> None:
    """A cache folder inside (or equal to) a folder holding images would write into the data."""
    dirs = {os.path.realpath(d) for d in {os.path.dirname(p) for p in items}}
    here = folder.resolve()
    for d in (here, *here.parents):
        if str(d) in dirs:
            raise VisionfitError(
                f"the cache folder {folder} is inside the dataset folder {d}, which is only ever "
                "read: set $VISIONFIT_CACHE to a folder outside the data"
            )
