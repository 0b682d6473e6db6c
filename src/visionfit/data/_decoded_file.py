"""The on-disk format of the decoded-image cache (see `visionfit.data.cache`).

One file per (decode settings, ordered list of items) under ``<cache dir>/decoded/``:

    magic "VFDC" + format version (8 bytes) | header length (uint64 LE) | header (JSON)
    | padding to 4096 | CRC-32 of each image row and mask row (uint32, N x 2)
    | padding to 4096 | images (N, S, S, C) uint8 (float32 when the header's "dtype" says so:
    high-bit-depth data) | masks (N, S, S) uint8, if any

The header names every item with the identity of its file(s) (`scan_cache.file_key`) and the mask
key, so a row is reused only when its file is unchanged and its checksum still matches; changed,
missing or damaged rows are decoded again. A file is always written whole to a temporary name and
renamed into place (atomic on POSIX), so a reader never sees a half-written cache, and two
processes building the same cache are serialised by a lock file (where `fcntl` exists); without
it, both build and the last rename wins with identical content.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from visionfit.data.bounded import imap_unordered, window_for

FORMAT_VERSION = 1
_MAGIC = b"VFDC" + struct.pack("<I", FORMAT_VERSION)
_ALIGN = 4096

# None: the decoder refused the item (its row stays zeros and is never marked as reusable)
DecodeFn = Callable[[int], tuple[np.ndarray, np.ndarray | None] | None]


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


def cache_file(cache_dir: Path, settings: dict, items: Sequence[str]) -> Path:
    """The file for these settings and this ordered list of (absolute) paths."""
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(json.dumps({"v": FORMAT_VERSION, **settings}, sort_keys=True).encode())
    for item in items:
        digest.update(b"\0" + os.fsencode(item))
    return cache_dir / "decoded" / f"{digest.hexdigest()}.vfc"


class Layout:
    """Offsets and shapes of the blocks of one cache file."""

    def __init__(self, header: dict):
        self.header = header
        self.n = int(header["n"])
        self.shape = tuple(int(s) for s in header["shape"])  # (S, S, C)
        self.has_masks = bool(header["masks"])
        # uint8, or float32 for high-bit-depth data (a header without the key: uint8)
        self.dtype = np.dtype(header.get("dtype", "uint8"))
        raw = json.dumps(header, sort_keys=True).encode()
        self.header_bytes = raw
        self.crc_offset = _aligned(16 + len(raw))
        self.image_offset = _aligned(self.crc_offset + self.n * 8)
        self.image_bytes = self.n * int(np.prod(self.shape)) * self.dtype.itemsize
        self.mask_offset = self.image_offset + self.image_bytes
        self.mask_bytes = self.n * self.shape[0] * self.shape[1] if self.has_masks else 0
        self.size = self.mask_offset + self.mask_bytes

    def arrays(self, path: Path, mode: str) -> tuple[np.ndarray, np.ndarray | None]:
        images = np.memmap(path, self.dtype, mode, self.image_offset, (self.n, *self.shape))
        masks = None
        if self.has_masks:
            masks = np.memmap(path, np.uint8, mode, self.mask_offset, (self.n, *self.shape[:2]))
        return images, masks

    def crcs(self, path: Path, mode: str) -> np.ndarray:
        return np.memmap(path, "<u4", mode, self.crc_offset, (self.n, 2))


def read_layout(path: Path) -> Layout | None:
    """The layout of an existing cache file; None when it is missing, foreign or damaged."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            if len(head) != 16 or head[:8] != _MAGIC:
                return None
            (length,) = struct.unpack("<Q", head[8:])
            if length > 1 << 31:
                return None
            header = json.loads(f.read(length).decode())
        layout = Layout(header)
        if layout.header_bytes != json.dumps(header, sort_keys=True).encode():
            return None
        if os.path.getsize(path) != layout.size:  # truncated or padded by something else
            return None
        return layout
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _crc(row: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(row).data) & 0xFFFFFFFF


def _reusable(path: Path, header: dict, threads: int) -> list[bool]:
    """Which rows of the existing file can be kept: same item identity and a matching CRC."""
    old = read_layout(path)
    reuse = [False] * int(header["n"])
    if old is None or old.shape != tuple(header["shape"]) or old.has_masks != header["masks"]:
        return reuse
    if old.header["settings"] != header["settings"]:
        return reuse
    images, masks = old.arrays(path, "r")
    crcs = np.array(old.crcs(path, "r"))
    same = [i for i, it in enumerate(header["items"]) if i < old.n and old.header["items"][i] == it]

    def check(i: int) -> tuple[int, bool]:
        ok = _crc(images[i]) == crcs[i, 0]
        return i, ok and (masks is None or _crc(masks[i]) == crcs[i, 1])

    with ThreadPoolExecutor(threads) as pool:
        for i, ok in imap_unordered(pool, check, same, window_for(threads)):
            reuse[i] = ok
    return reuse


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # no flock (Windows): both build, the rename keeps either, same content
        yield
        return
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _fill(
    tmp: Path,
    layout: Layout,
    old: tuple[np.ndarray | None, np.ndarray | None],
    reuse: list[bool],
    decode: DecodeFn,
    threads: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Fill the rows and checksums of a new file; returns how many rows were decoded."""
    images, masks = layout.arrays(tmp, "r+")
    crcs = layout.crcs(tmp, "r+")
    old_images, old_masks = old
    for i in (i for i, keep in enumerate(reuse) if keep):
        images[i] = old_images[i]
        if masks is not None:
            masks[i] = old_masks[i]

    refused: set[int] = set()

    def one(i: int) -> None:
        out = decode(i)
        if out is None:
            refused.add(i)
            return
        images[i] = out[0]
        if masks is not None:
            masks[i] = out[1]

    todo = [i for i, keep in enumerate(reuse) if not keep]
    with ThreadPoolExecutor(threads) as pool:
        for done, _ in enumerate(imap_unordered(pool, one, todo, window_for(threads)), 1):
            if progress is not None:
                progress(done, len(todo))
    for i in range(layout.n):
        crcs[i, 0] = _crc(images[i])
        crcs[i, 1] = _crc(masks[i]) if masks is not None else 0
        if i in refused:  # a checksum that never matches: the next open decodes it again
            crcs[i, 0] ^= 0xFFFFFFFF
    for arr in (images, masks, crcs):
        if arr is not None:
            arr.flush()
    return len(todo)


def _write(
    path: Path,
    layout: Layout,
    reuse: list[bool],
    decode: DecodeFn,
    threads: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Write a complete new file (reused rows copied, the rest decoded); returns rows decoded."""
    old_layout = read_layout(path) if any(reuse) else None
    old = old_layout.arrays(path, "r") if old_layout else (None, None)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + struct.pack("<Q", len(layout.header_bytes)) + layout.header_bytes)
            f.truncate(layout.size)
        decoded = _fill(Path(tmp), layout, old, reuse, decode, threads, progress)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return decoded


def open_or_build(
    path: Path,
    header: dict,
    decode: DecodeFn,
    *,
    threads: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Layout, int]:
    """Make sure `path` holds every row of `header` (decoding what is missing or stale).

    Returns the file's layout and how many rows were decoded (0 when the file was complete).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = Layout(header)
    with _locked(path):
        reuse = _reusable(path, header, threads)
        if all(reuse) and layout.n > 0:
            return layout, 0
        decoded = _write(path, layout, reuse, decode, threads, progress)
    return layout, decoded
