"""Why a file cannot be decoded: the reasons check and train report (truncated, not an image,
unsupported format, ...), found by sniffing the file's header and checking its end."""

from __future__ import annotations

import os
import struct
from typing import IO, Any

from PIL import Image

from visionfit.errors import DataError

_PIL_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "BMP", "DIB", "TIFF", "WEBP", "GIF")


_TRUNCATION_HINTS = ("truncated", "broken data stream", "premature end", "unexpected end")


_UNSUPPORTED_HINTS = ("not supported", "unsupported", "not available", "unknown")


_PNG_SIG = b"\x89PNG\r\n\x1a\n"


class ImageDecodeError(DataError):
    """An image could not be decoded; carries ``.path`` (str | None) and ``.reason`` (a code)."""

    REASONS: tuple[str, ...] = (
        "zero bytes",
        "truncated",
        "not an image",
        "unsupported format",
        "decompression bomb",
        "too many pixels",
        "unreadable",
        "missing",
    )

    def __init__(self, path: str | None, reason: str, detail: str | None = None) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown ImageDecodeError reason {reason!r}")
        self.path = path
        self.reason = reason
        self.detail = detail
        where = path if path is not None else "<in-memory image>"
        text = f"{where}: {reason}"
        if detail:
            text += f" ({' '.join(str(detail).split())})"
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.reason, self.detail))


def _stream_size(fp: IO[bytes]) -> int:
    pos = fp.tell()
    size = fp.seek(0, os.SEEK_END)
    fp.seek(pos)
    return size


def _head(fp: IO[bytes] | None, n: int = 32) -> bytes:
    if fp is None:
        return b""
    try:
        fp.seek(0)
        return fp.read(n)
    except (OSError, ValueError):
        return b""


def _sniff(head: bytes) -> str | None:
    """Name the format from its leading bytes (only formats we decode or want to name)."""
    if head.startswith(_PNG_SIG):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim", b"heis"):
            return "HEIF"
    if head.startswith(b"\xff\x0a") or head.startswith(b"\x00\x00\x00\x0cJXL "):
        return "JPEG XL"
    if head.startswith(b"\x00\x00\x00\x0cjP  ") or head.startswith(b"\xff\x4f\xff\x51"):
        return "JPEG 2000"
    return None


def _unidentified(fp: IO[bytes], path: str | None) -> ImageDecodeError:
    head = _head(fp)
    fmt = _sniff(head)
    if fmt is not None and _looks_truncated(fp, fmt):
        return ImageDecodeError(path, "truncated", f"{fmt} file ends early")
    if fmt in _PIL_FORMATS:
        return ImageDecodeError(path, "unreadable", f"corrupt {fmt} header")
    if fmt is not None:
        return ImageDecodeError(path, "unsupported format", f"{fmt} images are not supported")
    other = _identify_any(fp)
    if other is not None:
        return ImageDecodeError(path, "unsupported format", f"{other} images are not supported")
    detail = "text file" if _is_text(head) else None
    return ImageDecodeError(path, "not an image", detail)


def _identify_any(fp: IO[bytes]) -> str | None:
    """Format name if any Pillow plugin recognises the header; nothing is decoded."""
    try:
        fp.seek(0)
        with Image.open(fp) as other:
            return str(other.format)
    except Exception:
        return None


def _is_text(head: bytes) -> bool:
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _classify(exc: BaseException, fp: IO[bytes] | None, path: str | None) -> ImageDecodeError:
    """Turn an exception raised while opening or decoding into a reason code."""
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return ImageDecodeError(path, "decompression bomb", str(exc))
    msg = str(exc)
    low = msg.lower()
    if "decompressed data too large" in low:
        return ImageDecodeError(path, "decompression bomb", msg)
    if isinstance(exc, MemoryError):
        return ImageDecodeError(path, "too many pixels", "out of memory while decoding")
    if any(h in low for h in _TRUNCATION_HINTS) or isinstance(exc, EOFError):
        return ImageDecodeError(path, "truncated", msg or None)
    fmt = _sniff(_head(fp))
    if fp is not None and fmt is not None and _looks_truncated(fp, fmt):
        return ImageDecodeError(path, "truncated", msg or f"{fmt} file ends early")
    if any(h in low for h in _UNSUPPORTED_HINTS):
        return ImageDecodeError(path, "unsupported format", msg)
    return ImageDecodeError(path, "unreadable", f"{type(exc).__name__}: {msg}")


def _read_at(fp: IO[bytes], pos: int, n: int) -> bytes:
    fp.seek(pos)
    return fp.read(n)


def _looks_truncated(fp: IO[bytes], fmt: str) -> bool:
    try:
        size = _stream_size(fp)
        if fmt == "PNG":
            return _png_truncated(fp)
        if fmt == "JPEG":
            return _jpeg_truncated(fp, size)
        if fmt == "GIF":
            return _read_at(fp, size - 1, 1) != b";"
        if fmt == "BMP":
            head = _read_at(fp, 0, 14)
            if len(head) < 14:
                return True
            file_size, _, _, data_offset = struct.unpack("<IHHI", head[2:14])
            return file_size > size or data_offset > size
        if fmt == "WEBP":
            head = _read_at(fp, 0, 12)
            return len(head) < 12 or struct.unpack("<I", head[4:8])[0] + 8 > size
        if fmt == "TIFF":
            return _tiff_truncated(fp, size)
    except (OSError, ValueError, struct.error):
        return False
    return False


def _png_truncated(fp: IO[bytes]) -> bool:
    """True if the PNG's chunk sequence runs past the end of the file before IEND."""
    try:
        size = _stream_size(fp)
        pos = len(_PNG_SIG)
        while pos + 8 <= size:
            header = _read_at(fp, pos, 8)
            if len(header) < 8:
                return True
            length, ctype = struct.unpack(">I4s", header)
            pos += 12 + length
            if pos > size:
                return True
            if ctype == b"IEND":
                return False
        return True
    except (OSError, ValueError, struct.error):
        return False


def _jpeg_truncated(fp: IO[bytes], size: int) -> bool:
    """True if the JPEG's segments run past the end of file, or no EOI follows the scan data."""
    pos = 2
    while True:
        marker = _read_at(fp, pos, 4)
        if len(marker) < 2:
            return True
        if marker[0] != 0xFF:
            return False  # corrupt rather than truncated
        code = marker[1]
        if code == 0xFF:  # fill byte
            pos += 1
            continue
        if code == 0x01 or 0xD0 <= code <= 0xD7:
            pos += 2
            continue
        if code == 0xD9:
            return False
        if len(marker) < 4:
            return True
        length = struct.unpack(">H", marker[2:4])[0]
        pos += 2 + length
        if pos > size:
            return True
        if code == 0xDA:  # start of scan: entropy-coded data follows, look for EOI
            break
    fp.seek(pos)
    prev = b""
    while block := fp.read(1 << 20):
        if b"\xff\xd9" in prev + block:
            return False
        prev = block[-1:]
    return True


def _tiff_truncated(fp: IO[bytes], size: int) -> bool:
    """True if the first IFD or the first image's strips/tiles lie past the end of the file."""
    head = _read_at(fp, 0, 8)
    if len(head) < 8:
        return True
    order = "<" if head[:2] == b"II" else ">"
    if struct.unpack(order + "H", head[2:4])[0] != 42:
        return False  # BigTIFF: not checked structurally
    ifd = struct.unpack(order + "I", head[4:8])[0]
    raw = _read_at(fp, ifd, 2)
    if len(raw) < 2:
        return True
    count = struct.unpack(order + "H", raw)[0]
    entries = _read_at(fp, ifd + 2, 12 * count)
    if len(entries) < 12 * count:
        return True
    tags: dict[int, list[int]] = {}
    for i in range(count):
        tag, typ, n, value = struct.unpack(order + "HHI4s", entries[12 * i : 12 * i + 12])
        if tag not in (273, 279, 324, 325) or typ not in (3, 4):
            continue
        width = 2 if typ == 3 else 4
        data = (
            value
            if n * width <= 4
            else _read_at(fp, struct.unpack(order + "I", value)[0], n * width)
        )
        if len(data) < n * width:
            return True
        tags[tag] = list(struct.unpack(f"{order}{n}{'H' if typ == 3 else 'I'}", data[: n * width]))
    for offsets_tag, counts_tag in ((273, 279), (324, 325)):
        offsets, counts = tags.get(offsets_tag), tags.get(counts_tag)
        if offsets and counts and len(offsets) == len(counts):
            if max(o + c for o, c in zip(offsets, counts, strict=True)) > size:
                return True
    return False
