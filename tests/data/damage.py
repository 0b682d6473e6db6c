"""Real PNG/JPEG files damaged at the byte level, as a user's folder has them (test helper)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def save_image(path: Path, seed: int) -> Path:
    """A 32 px noisy RGB image; PNG or JPEG by the suffix. A PNG has no eXIf chunk before its
    IDAT, so Pillow's getexif() on it loads the pixels (the case of issue 16)."""
    rng = np.random.default_rng(seed)
    arr = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
    arr[:, : 8 + seed % 16] = 255 if seed % 2 else 0
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _chunks(data: bytes):
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        yield kind, pos, length
        pos += 12 + length


def flip_idat(path: Path) -> Path:
    """Flip 40 bytes inside the PNG's IDAT and fix its CRC: only the zlib stream is broken
    (Pillow: "broken data stream" / "unrecognized data stream contents")."""
    data = bytearray(path.read_bytes())
    for kind, pos, length in _chunks(bytes(data)):
        if kind == b"IDAT":
            start = pos + 8 + length // 3
            for k in range(start, start + min(40, length // 2)):
                data[k] ^= 0xFF
            crc = zlib.crc32(bytes(data[pos + 4 : pos + 8 + length])) & 0xFFFFFFFF
            data[pos + 8 + length : pos + 12 + length] = struct.pack(">I", crc)
            break
    path.write_bytes(bytes(data))
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def zero_range(path: Path, start: float = 0.02, n: int = 400) -> Path:
    """Zero `n` bytes from `start` (a share of the file): at 0.02 a PNG loses its first chunk
    header after IHDR; deeper into the data, decoders may accept the garbled pixels."""
    data = bytearray(path.read_bytes())
    s = int(len(data) * start)
    data[s : s + n] = bytes(min(n, len(data) - s))
    path.write_bytes(bytes(data))
    return path
