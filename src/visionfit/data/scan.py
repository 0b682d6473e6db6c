"""The data scan: decode every image fully (in threads, or in worker processes for a large scan;
cached per file), name every file that cannot be used and why, and keep what the report needs
(size, mode, format, EXIF, SHA-1).

One scan serves `visionfit check`, `train` (every task) and `--resume`.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np
from PIL import Image

from visionfit.data.bounded import imap_unordered, window_for
from visionfit.data.dicom import PATIENT_KEY
from visionfit.data.highbit import TIFF_MAGIC, bits_used, stored_dtype
from visionfit.data.io import (
    ImageDecodeError,
    decode_file,
    file_sha1,
    read_small_file,
    unreadable_image,
)
from visionfit.data.modes import _scale_to_u8
from visionfit.data.scan_cache import ScanCache, file_key
from visionfit.fileio import UnreadableFileError, check_regular
from visionfit.limits import MAX_IMAGE_FILE_BYTES
from visionfit.progress import progress as show_progress

_EXIF_ORIENTATION = 0x0112


@dataclass(slots=True)
class FileScan:
    """What the scan found out about one file.

    One per listed file, kept for the whole run: slots (no per-object dict) and the few short
    strings many files share (mode, format, pixel type, reason) interned, so that ten million of
    them fit in memory (benchmarks/bench_scale.py)."""

    image: str
    ok: bool
    reason: str = ""  # an ImageDecodeError reason when not ok
    detail: str = ""
    bytes: int = 0
    width: int = 0  # as decoded, after the EXIF rotation
    height: int = 0
    mode: str = ""  # Pillow mode of the stored image (RGB, L, P, I;16, CMYK, ...)
    format: str = ""
    exif_orientation: int = 0  # 0 = no tag, 1 = upright, 2..8 = flipped or rotated
    sha1: str = ""
    phash: str = ""  # 64-bit perceptual hash (imagehash pHash) as 16 hex digits; data/neardup.py
    dtype: str = ""  # stored pixel type: uint8, uint16, int32, float32, ... (data/highbit.py)
    channels: int = 0  # as decoded with the file's own channel count (8-bit images: 3)
    bits: int = 0  # integer data: bit length of the largest value (12: only the low 12 bits used)
    patient: str = ""  # a DICOM file's PatientID (data/dicom.py); the default group

    @property
    def exif_rotated(self) -> bool:
        return self.exif_orientation > 1

    def cacheable(self) -> dict:
        d = asdict(self)
        d.pop("image")
        return d

    @classmethod
    def from_cached(cls, image: str, result: dict) -> FileScan:
        """The scan of `image` from its `cacheable()` dict (the scan cache's entry)."""
        for name in _SHARED_STRINGS:
            value = result.get(name)
            if value is not None:
                result[name] = sys.intern(value)
        return cls(image=image, **result)


_SHARED_STRINGS = ("reason", "mode", "format", "dtype")  # a handful of values over all files


@dataclass
class ScanResult:
    files: list[FileScan]
    seconds: float
    decoded: int  # files actually read in this scan
    cached: int  # results taken from the cache
    cache_note: str = ""

    def by_image(self) -> dict[str, FileScan]:
        return {f.image: f for f in self.files}

    def patients(self) -> dict[str, str]:
        """image -> DICOM PatientID, for the usable files that carry one."""
        return {f.image: f.patient for f in self.files if f.ok and f.patient}


def default_threads() -> int:
    """Decoding in Pillow and hashing release the GIL, so threads use several cores."""
    return max(1, min(8, os.cpu_count() or 1))


def scan_file(path: str, *, max_pixels: int) -> FileScan:
    """Hash and fully decode one file the way training does; never raises for a bad file."""
    info = FileScan(image=path, ok=False)
    try:
        try:  # a pipe or a device would block or never end: refused by its stat alone
            st = check_regular(path, max_bytes=MAX_IMAGE_FILE_BYTES)
        except UnreadableFileError as e:
            raise unreadable_image(e) from None
        info.bytes = st.st_size

        def header(im: Image.Image) -> None:
            info.format, info.mode, info.exif_orientation = _header(im)
            info.patient = str(im.info.get(PATIENT_KEY, ""))

        # read once: hashed, then decoded from memory (a large file is streamed twice instead)
        data = read_small_file(path)
        if data is None:
            info.sha1 = file_sha1(path)
        else:
            info.sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        # The very function training decodes with decides: the scan cannot accept what
        # training refuses (same open, same load, same conversion).
        arr = decode_file(path, in_chans=None, max_pixels=max_pixels, data=data, on_decoded=header)
        info.height, info.width = arr.shape[:2]  # after the EXIF rotation
        info.dtype = stored_dtype(data, arr, info.mode)
        info.channels, info.bits = int(arr.shape[2]), bits_used(arr, info.dtype)
        if not info.mode:  # read by tifffile or OpenCV (data/highbit.py): no Pillow mode
            info.format = "TIFF" if (data or b"")[:4] in TIFF_MAGIC else "PNG"
            info.mode = f"{info.channels}x{info.dtype}"
        info.phash = perceptual_hash(arr)
        info.ok = True
        info.format, info.mode, info.dtype = map(sys.intern, (info.format, info.mode, info.dtype))
    except ImageDecodeError as e:
        info.reason, info.detail = e.reason, str(e.detail or "")
    except MemoryError:
        info.reason, info.detail = "too many pixels", "out of memory while decoding"
    except Exception as e:  # never let one file stop the scan
        info.reason, info.detail = "unreadable", f"{type(e).__name__}: {e}"
    return info


def perceptual_hash(arr) -> str:
    """imagehash's 64-bit pHash of a decoded uint8 HxWxC image, as 16 hex digits: near-duplicate
    images (resized, re-compressed) differ in few of its bits (data/neardup.py)."""
    import imagehash

    if arr.dtype != np.uint8 or arr.shape[2] != 3:  # high-bit or N channels: their mean, by range
        arr = _scale_to_u8(arr.astype(np.float64).mean(axis=2))[:, :, None]
    img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).convert("L")
    # imagehash shrinks to 32x32 with Lanczos first; a box reduction before it (reducing_gap)
    # gives the same hash to within a bit or two, about 3x faster on 512 px images
    img = img.resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=8.0)
    return str(imagehash.phash(img, hash_size=8))


def _header(im: Image.Image) -> tuple[str, str, int]:
    """Format, stored mode and EXIF orientation of an image whose pixels are already decoded.

    Read after the decode, never before: Pillow's PNG ``getexif()`` loads the pixels when the
    eXIf chunk comes after IDAT, and its failure, swallowed here as "corrupt EXIF", used to let
    the scan accept a file that training then refused."""
    fmt, mode = str(im.format or ""), str(im.mode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            orientation = int(im.getexif().get(_EXIF_ORIENTATION) or 0)
        except Exception:  # corrupt EXIF: the decoder keeps the stored orientation too
            orientation = 0
    return fmt, mode, orientation if 0 <= orientation <= 8 else 0


_LOOKUP_CHUNK = 500  # files looked up in the scan cache at once, and results written at once


def scan_files(
    paths: Sequence[str],
    *,
    max_pixels: int,
    threads: int | None = None,
    progress: bool = False,
    cache: ScanCache | None = None,
    description: str = "scanning images",
) -> ScanResult:
    """Scan `paths` in parallel, reusing cached results for files that did not change.

    Memory grows with the files by their `FileScan`s only: the cache is read and written in
    chunks, and a few files per thread are in the threads at once (data/bounded.py)."""
    t0 = time.perf_counter()
    paths = [str(p) for p in paths]
    own_cache = cache is None
    if cache is None:
        cache = ScanCache.open({"max_pixels": max_pixels})
    results = _cached_results(paths, cache)
    n_cached = len(results)
    todo = list(dict.fromkeys(p for p in paths if p not in results))
    if todo:
        with show_progress(description, len(todo), "files", enabled=progress) as shown:
            _store(_scanned(todo, max_pixels, threads), cache, results, shown.advance)
    note = "" if cache.enabled else f"scan cache not used ({cache.disabled_reason})"
    if own_cache:
        cache.close()
    files = [results[p] for p in paths]
    del results
    return ScanResult(
        files=files,
        seconds=time.perf_counter() - t0,
        decoded=len(todo),
        cached=n_cached,
        cache_note=note,
    )


def _cached_results(paths: list[str], cache: ScanCache) -> dict[str, FileScan]:
    """The cached scans of the files that did not change, read a chunk at a time."""
    results: dict[str, FileScan] = {}
    if not cache.enabled:
        return results
    for i in range(0, len(paths), _LOOKUP_CHUNK):
        keyed = [(p, k) for p in paths[i : i + _LOOKUP_CHUNK] if (k := file_key(p)) is not None]
        for p, r in cache.get_many(keyed).items():
            results[p] = FileScan.from_cached(p, r)
    return results


# A scan of at least this many files decodes in worker processes. The work per file is mostly
# Python glue around Pillow, numpy and imagehash, which holds the GIL: threads reached one core
# (Fashion-MNIST's 10,000 28 px PNGs: 1.00 cores, 577 files/s on 2 cores). Below this many
# the pool's start and round trips are not repaid.
PROCESS_MIN_FILES = 1000
_PROCESS_CHUNK = 64  # files per task sent to a worker process (one round trip each)


def _scanned(todo: list[str], max_pixels: int, threads: int | None) -> Iterator[tuple]:
    """(FileScan, cache stamp) of every file of `todo`, in the order they finish: in worker
    processes for a large scan on several cores, else (or for what is left when a worker
    process dies, e.g. a decoder crashing on a hostile file) in threads."""
    n = threads or default_threads()
    left = todo
    workers = min(n, os.cpu_count() or 1)
    if len(todo) >= PROCESS_MIN_FILES and workers > 1 and _can_fork():
        done: set[int] = set()  # chunks given back whole (a few KB at a million files)
        try:
            for start, chunk in _in_processes(todo, max_pixels, workers):
                yield from chunk
                done.add(start)
            return
        except (BrokenProcessPool, OSError):  # a worker died or none could start
            left = [
                p
                for start in range(0, len(todo), _PROCESS_CHUNK)
                if start not in done
                for p in todo[start : start + _PROCESS_CHUNK]
            ]
    with ThreadPoolExecutor(max_workers=n) as pool:
        yield from imap_unordered(
            pool, partial(_scan_keyed, max_pixels=max_pixels), left, window_for(n)
        )


def _can_fork() -> bool:
    """Forked workers (as PyTorch's DataLoader starts its own on Linux): they start at once
    and run no user code again. Spawned ones would import the caller's `__main__` anew (a
    script without an `if __name__ == "__main__"` guard would run again in each); macOS's
    fork is unsafe, so there (and on Windows) the scan stays in threads, as it does in a
    daemonic process (a multiprocessing pool's worker), which may not have children."""
    import multiprocessing

    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )


def _in_processes(todo: list[str], max_pixels: int, workers: int) -> Iterator[tuple]:
    """(start, the scans of todo[start : start + _PROCESS_CHUNK]) as the chunks finish."""
    import multiprocessing

    # The workers only decode and hash (Pillow, numpy, imagehash): nothing of the threads a
    # fork leaves behind (torch's, a progress bar's) is used in them.
    context = multiprocessing.get_context("fork")
    chunks = ((i, todo[i : i + _PROCESS_CHUNK]) for i in range(0, len(todo), _PROCESS_CHUNK))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        scan = partial(_scan_chunk, max_pixels=max_pixels)
        yield from imap_unordered(pool, scan, chunks, window_for(workers))


def _scan_chunk(chunk: tuple[int, list[str]], max_pixels: int) -> tuple[int, list[tuple]]:
    start, paths = chunk
    return start, [_scan_keyed(p, max_pixels) for p in paths]


def _scan_keyed(path: str, max_pixels: int) -> tuple[FileScan, str | None]:
    """Scan one file, and the cache stamp it had before it was read (None: not cacheable)."""
    key = file_key(path)
    return scan_file(path, max_pixels=max_pixels), key


def _store(done: Iterable[tuple[FileScan, str | None]], cache: ScanCache, results, advance):
    """Scans as they finish into `results` and, a chunk at a time, into the cache."""
    fresh: list[tuple[str, str, dict]] = []
    for info, key in done:
        results[info.image] = info
        # Missing or unstat-able files are not cached: they are cheap to look at again.
        if key is not None and info.reason != "missing":
            fresh.append((info.image, key, info.cacheable()))
        if len(fresh) >= _LOOKUP_CHUNK:
            cache.put_many(fresh)
            fresh = []
        advance()
    cache.put_many(fresh)
