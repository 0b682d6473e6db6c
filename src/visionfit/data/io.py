"""Image decoding: the one place where files, bytes and arrays become ``uint8`` HxWxC arrays.

Training, prediction, the server and ``visionfit check`` all call :func:`decode_image`, so an image
is decoded the same way everywhere: EXIF orientation applied, modes normalised, transparency
composited on a stated background, high-bit-depth data scaled (not clipped), and bad files turned
into :class:`ImageDecodeError` with a short reason code instead of a crash.

Decisions:

* High-bit-depth and float data ("I;16*", "I", "F" and non-``uint8`` arrays) are scaled linearly by
  the image's own finite min..max range to 0..255. A constant image (min == max) maps to all 0.
  NaN and -inf map to 0, +inf to 255.
* The alpha channel of a non-``uint8`` array is not range-scaled: integer alpha is divided by the
  dtype's maximum (65535 for ``uint16``), float alpha is read as 0..1 and clipped.
* Colour channels of a multi-channel array are scaled jointly (one min..max), keeping hues.
* Multi-frame files (GIF, TIFF) use the first frame.
* Only PNG, JPEG, BMP, TIFF, WebP and GIF are decoded; other formats Pillow knows (EPS, PSD, ...)
  are refused with reason "unsupported format".
* 16-bit RGB(A) PNGs are reduced to 8 bits per channel by Pillow itself (value >> 8, an absolute
  scale); only single-channel high-bit-depth data is range-scaled.
* Truncation is checked beyond Pillow: a PNG must reach a complete IEND chunk, and when Pillow
  fails without saying why, the file's structure (PNG chunks, JPEG segments, TIFF IFD/strips, BMP
  and WebP size fields, GIF trailer) decides between "truncated" and other reasons. A GIF whose
  only missing bytes are its trailer still decodes (all its pixels are present).
* During a call, Pillow's ``DecompressionBombWarning`` is raised as an error and its
  ``UserWarning``s are silenced (``warnings.catch_warnings``, process-wide state); the pixel limits
  are also checked directly, so correctness does not depend on the warning filters.
* ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` must stay False; if other code set it, it is reset (with
  a warning) so that a truncated image is never silently accepted.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import warnings
from collections.abc import Sequence
from typing import IO, Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from visionfit.errors import DataError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "ImageDecodeError",
    "decode_image",
    "file_sha1",
    "is_image_file",
    "open_image",
    "to_array",
]

DEFAULT_MAX_PIXELS: int = 64_000_000
"""Largest accepted width * height; below Pillow's own ``MAX_IMAGE_PIXELS`` (about 89.5M)."""

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
)
"""File extensions (lower case, with the dot) treated as images in a dataset folder."""

ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | Image.Image
ArraySource = ImageSource | np.ndarray
Background = int | Sequence[int]

# Pillow format ids that are decoded; everything else is "unsupported format".
_PIL_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "BMP", "DIB", "TIFF", "WEBP", "GIF")
_HIGH_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
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


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Return True if ``path`` has an image extension (case-insensitive); the file is not read."""
    return os.path.splitext(os.fsdecode(path))[1].lower() in IMAGE_EXTENSIONS


def file_sha1(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Return the SHA-1 hex digest of a file's bytes (for duplicate detection)."""
    name = os.fsdecode(path)
    digest = hashlib.sha1(usedforsecurity=False)
    try:
        with open(name, "rb") as f:
            while block := f.read(chunk):
                digest.update(block)
    except FileNotFoundError:
        raise ImageDecodeError(name, "missing") from None
    except OSError as exc:
        raise ImageDecodeError(name, "unreadable", exc.strerror or str(exc)) from exc
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Opening


def open_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open and fully decode an image, applying its EXIF orientation.

    ``source`` is a path, bytes, a binary file-like object or a ``PIL.Image.Image``. Files are
    opened read-only and closed before returning. Raises :class:`ImageDecodeError` with a reason
    code; images with more than ``max_pixels`` pixels are refused before their pixels are decoded.
    """
    _guard_truncated_flag()
    # Pillow's bomb warning becomes an error for this call; its UserWarnings (corrupt EXIF, short
    # reads) are dropped because failures are reported through ImageDecodeError instead.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")
        return _open_any(source, max_pixels)


def _open_any(source: ImageSource, max_pixels: int) -> Image.Image:
    if isinstance(source, Image.Image):
        path = getattr(source, "filename", "") or None
        return _decode_pil(source, os.fsdecode(path) if path else None, max_pixels, None)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _open_stream(io.BytesIO(bytes(source)), None, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        return _open_path(os.fsdecode(source), max_pixels)
    if hasattr(source, "read"):
        name = getattr(source, "name", None)
        path = name if isinstance(name, str) else None
        try:
            data = source.read()
        except OSError as exc:
            raise ImageDecodeError(path, "unreadable", str(exc)) from exc
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("open_image needs a binary file object, got text")
        return _open_stream(io.BytesIO(bytes(data)), path, max_pixels)
    raise TypeError(f"cannot open an image from {type(source).__name__}")


def _guard_truncated_flag() -> None:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        warnings.warn(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES was True; visionfit reset it to False so that "
            "truncated images are reported instead of silently padded",
            RuntimeWarning,
            stacklevel=3,
        )


def _open_path(path: str, max_pixels: int) -> Image.Image:
    try:
        f = open(path, "rb")  # closed by the with-block below
    except FileNotFoundError:
        raise ImageDecodeError(path, "missing") from None
    except IsADirectoryError:
        raise ImageDecodeError(path, "unreadable", "is a directory") from None
    except OSError as exc:
        raise ImageDecodeError(path, "unreadable", exc.strerror or str(exc)) from exc
    with f:
        return _open_stream(f, path, max_pixels)


def _stream_size(fp: IO[bytes]) -> int:
    pos = fp.tell()
    size = fp.seek(0, os.SEEK_END)
    fp.seek(pos)
    return size


def _open_stream(fp: IO[bytes], path: str | None, max_pixels: int) -> Image.Image:
    """Decode from a seekable binary stream positioned at 0; ``fp`` is not closed here."""
    if _stream_size(fp) == 0:
        raise ImageDecodeError(path, "zero bytes")
    try:
        img = Image.open(fp, formats=_PIL_FORMATS)
    except UnidentifiedImageError:
        raise _unidentified(fp, path) from None
    except ImageDecodeError:
        raise
    except Exception as exc:
        raise _classify(exc, fp, path) from exc
    with img:
        return _decode_pil(img, path, max_pixels, fp)


def _decode_pil(
    img: Image.Image, path: str | None, max_pixels: int, fp: IO[bytes] | None
) -> Image.Image:
    width, height = img.size
    pixels = width * height
    if width <= 0 or height <= 0:
        raise ImageDecodeError(path, "unreadable", f"image has no pixels ({width}x{height})")
    bomb_limit = Image.MAX_IMAGE_PIXELS
    if bomb_limit is not None and pixels > bomb_limit:
        raise ImageDecodeError(
            path, "decompression bomb", f"{width}x{height} exceeds Pillow's limit"
        )
    if pixels > max_pixels:
        raise ImageDecodeError(
            path, "too many pixels", f"{width}x{height} = {pixels} > {max_pixels}"
        )
    try:
        if getattr(img, "n_frames", 1) > 1 and img.tell() != 0:
            img.seek(0)
        img.load()
    except ImageDecodeError:
        raise
    except Exception as exc:
        raise _classify(exc, fp, path) from exc
    if fp is not None and img.format == "PNG" and _png_truncated(fp):
        # Pillow accepts a PNG whose end (IEND, checksums) is cut off once the pixels are decoded.
        raise ImageDecodeError(path, "truncated", "PNG ends before its IEND chunk")
    try:
        out = ImageOps.exif_transpose(img)
    except Exception:  # corrupt EXIF: keep the stored orientation, the same way everywhere
        out = img.copy()
    if out is img:
        out = img.copy()
    return out


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


# --------------------------------------------------------------------------------------------
# Structural truncation checks (used when Pillow fails without saying why, and for PNG's tail)


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


# --------------------------------------------------------------------------------------------
# Normalisation to uint8 HxWxC


def _check_in_chans(in_chans: int) -> None:
    if in_chans not in (1, 3):
        raise ValueError(f"in_chans must be 1 or 3, got {in_chans!r}")


def _background_rgb(background: Background) -> tuple[int, int, int]:
    values = (background,) * 3 if isinstance(background, (int, np.integer)) else tuple(background)
    if len(values) != 3 or not all(
        isinstance(v, (int, np.integer)) and 0 <= int(v) <= 255 for v in values
    ):
        raise ValueError(f"background must be an int or three ints in 0..255, got {background!r}")
    return (int(values[0]), int(values[1]), int(values[2]))


def _scale_to_u8(values: np.ndarray) -> np.ndarray:
    """Scale any numeric array linearly by its own finite min..max to 0..255 (constant -> 0)."""
    data = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(data)
    out = np.zeros(data.shape, dtype=np.uint8)
    if not finite.any():
        out[np.isposinf(data)] = 255
        return out
    lo = float(data[finite].min())
    hi = float(data[finite].max())
    if hi > lo:
        scaled = (data - lo) * 255.0 / (hi - lo)
        out = np.rint(np.clip(np.nan_to_num(scaled, nan=0.0, posinf=255.0, neginf=0.0), 0, 255))
        out = out.astype(np.uint8)
    out[np.isposinf(data)] = 255
    return out


def _alpha_to_u8(alpha: np.ndarray) -> np.ndarray:
    if alpha.dtype == np.uint8:
        return alpha
    if alpha.dtype == np.bool_:
        return alpha.astype(np.uint8) * 255
    if np.issubdtype(alpha.dtype, np.integer):
        top = float(np.iinfo(alpha.dtype).max)
        return np.rint(np.clip(alpha.astype(np.float64), 0, top) * (255.0 / top)).astype(np.uint8)
    data = np.nan_to_num(alpha.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(data, 0.0, 1.0) * 255.0).astype(np.uint8)


def _finish(arr: np.ndarray, in_chans: int, background: tuple[int, int, int]) -> np.ndarray:
    """``arr`` is uint8 HxW, HxWx2 (gray+alpha), HxWx3 or HxWx4; composite and set channels."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    channels = arr.shape[2]
    if channels in (2, 4):
        color = arr[:, :, :-1]
        if channels == 2:
            color = np.repeat(color, 3, axis=2)
        alpha = arr[:, :, -1:].astype(np.uint32)
        bg = np.asarray(background, dtype=np.uint32).reshape(1, 1, 3)
        mixed = (color.astype(np.uint32) * alpha + bg * (255 - alpha) + 127) // 255
        arr = mixed.astype(np.uint8)
        channels = 3
    if in_chans == 1 and channels == 3:
        arr = np.asarray(Image.fromarray(np.ascontiguousarray(arr)).convert("L"))[:, :, None]
    elif in_chans == 3 and channels == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _pil_to_u8(img: Image.Image) -> np.ndarray:
    """Bring a PIL image to uint8 L, LA, RGB or RGBA data."""
    mode = img.mode
    if mode in _HIGH_BIT_MODES:
        return _scale_to_u8(np.asarray(img))
    if mode in ("L", "RGB") and "transparency" in img.info:
        return np.asarray(img.convert("RGBA"))
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(img)
    if mode == "1":
        return np.asarray(img.convert("L"))
    if mode in ("P", "PA"):
        return np.asarray(img.convert("RGBA" if img.has_transparency_data else "RGB"))
    if mode == "La":
        return np.asarray(img.convert("LA"))
    if mode == "RGBa":
        return np.asarray(img.convert("RGBA"))
    if mode in ("RGBX", "CMYK", "YCbCr", "HSV"):
        return np.asarray(img.convert("RGB"))
    if mode == "LAB":
        from PIL import ImageCms

        transform = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
        )
        return np.asarray(ImageCms.applyTransform(img, transform))
    raise ValueError(f"image mode {mode}")


def to_array(
    img: Image.Image, *, in_chans: int = 3, background: Background = (255, 255, 255)
) -> np.ndarray:
    """Convert a PIL image to a C-contiguous uint8 HxWxC array with C == ``in_chans`` (1 or 3).

    Transparency is composited on ``background`` (RGB); 16-bit, 32-bit and float images are scaled
    by their own min..max range (a constant image becomes 0); RGB -> 1 channel uses Pillow's "L"
    luminance; grayscale -> 3 channels is replicated. Multi-frame images use the first frame.
    """
    _check_in_chans(in_chans)
    bg = _background_rgb(background)
    path = getattr(img, "filename", "") or None
    path = os.fsdecode(path) if path else None
    if getattr(img, "n_frames", 1) > 1 and img.tell() != 0:
        img.seek(0)
    if img.width <= 0 or img.height <= 0:
        raise ImageDecodeError(
            path, "unreadable", f"image has no pixels ({img.width}x{img.height})"
        )
    try:
        img.load()
    except Exception as exc:
        raise _classify(exc, None, path) from exc
    try:
        data = _pil_to_u8(img)
    except Exception as exc:
        raise ImageDecodeError(path, "unsupported format", str(exc)) from exc
    return _finish(data, in_chans, bg)


def _array_to_u8(arr: np.ndarray) -> np.ndarray:
    """Validate an HxW / HxWxC (C in 1..4) array and bring it to uint8 (see module docstring)."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (2, 3, 4))):
        raise ImageDecodeError(
            None, "unsupported format", f"array shape {arr.shape}; expected HxW or HxWxC, C=1..4"
        )
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ImageDecodeError(None, "unsupported format", f"array dtype {arr.dtype}")
    if arr.dtype == np.uint8:
        return arr
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        color = _scale_to_u8(arr[:, :, :-1])
        alpha = _alpha_to_u8(arr[:, :, -1:])
        return np.concatenate([color, alpha], axis=2)
    return _scale_to_u8(arr)


def decode_image(
    source: ArraySource,
    *,
    in_chans: int = 3,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    background: Background = (255, 255, 255),
) -> np.ndarray:
    """Decode ``source`` to a uint8 HxWxC array: the one decoder for training, prediction, check.

    ``source`` is anything :func:`open_image` accepts, or a numpy array (HxW, HxWx1, HxWx3,
    HxWx4; uint8, uint16 or float) normalised the same way as a decoded image.
    Raises :class:`ImageDecodeError` for bad input.
    """
    _check_in_chans(in_chans)
    bg = _background_rgb(background)
    if isinstance(source, np.ndarray):
        if source.ndim < 2 or source.shape[0] == 0 or source.shape[1] == 0:
            raise ImageDecodeError(None, "unreadable", f"array shape {source.shape} has no pixels")
        pixels = int(source.shape[0]) * int(source.shape[1])
        if pixels > max_pixels:
            raise ImageDecodeError(
                None, "too many pixels", f"{source.shape[1]}x{source.shape[0]} > {max_pixels}"
            )
        return _finish(_array_to_u8(source), in_chans, bg)
    img = open_image(source, max_pixels=max_pixels)
    try:
        return to_array(img, in_chans=in_chans, background=bg)
    finally:
        img.close()
