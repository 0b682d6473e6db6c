"""The data scan: decode every image fully (in threads, cached per file), name every file that
cannot be used and why, and keep what the report needs (size, mode, format, EXIF, SHA-1).

One scan serves `visionfit check`, `train` (every task) and `--resume`.
"""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

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


@dataclass
class FileScan:
    """What the scan found out about one file."""

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


def scan_files(
    paths: Sequence[str],
    *,
    max_pixels: int,
    threads: int | None = None,
    progress: bool = False,
    cache: ScanCache | None = None,
    description: str = "scanning images",
) -> ScanResult:
    """Scan `paths` in parallel, reusing cached results for files that did not change."""
    t0 = time.perf_counter()
    paths = [str(p) for p in paths]
    own_cache = cache is None
    if cache is None:
        cache = ScanCache.open({"max_pixels": max_pixels})
    keys = {p: file_key(p) for p in paths}
    cached = cache.get_many([(p, k) for p, k in keys.items() if k is not None])
    results: dict[str, FileScan] = {p: FileScan(image=p, **r) for p, r in cached.items()}
    todo = list(dict.fromkeys(p for p in paths if p not in results))
    fresh: list[tuple[str, str, dict]] = []
    if todo:
        with show_progress(description, len(todo), "files", enabled=progress) as shown:
            with ThreadPoolExecutor(max_workers=threads or default_threads()) as pool:
                futures = {pool.submit(scan_file, p, max_pixels=max_pixels): p for p in todo}
                for fut in as_completed(futures):
                    info = fut.result()
                    results[info.image] = info
                    key = keys.get(info.image)
                    # Missing or unstat-able files are not cached: they are cheap to look at again.
                    if key is not None and info.reason != "missing":
                        fresh.append((info.image, key, info.cacheable()))
                    if len(fresh) >= 500:
                        cache.put_many(fresh)
                        fresh = []
                    shown.advance()
        cache.put_many(fresh)
    note = "" if cache.enabled else f"scan cache not used ({cache.disabled_reason})"
    if own_cache:
        cache.close()
    return ScanResult(
        files=[results[p] for p in paths],
        seconds=time.perf_counter() - t0,
        decoded=len(todo),
        cached=len(cached),
        cache_note=note,
    )
