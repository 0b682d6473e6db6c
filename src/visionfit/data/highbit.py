"""High-bit-depth, float and N-channel images: decoded to float32 arrays that keep their values.

`data/io.decode_file` sends a file here when 8 bits would lose something; everything else takes
the 8-bit path of `data/modes.py` unchanged (the same uint8 arrays as before this module existed).

Which files, and what they become:

* Pillow's high-bit modes (16-bit grayscale PNG and TIFF "I;16*", 32-bit integer "I", float "F"):
  the stored values as float32 HxWx1, never rescaled (a 12-bit signal in a 16-bit file stays
  0..4095). The run's intensity setting (`data/intensity.py`) maps them to the network's range,
  the same for every image of the dataset.
* 16-bit RGB(A) PNGs (which Pillow reduces to 8 bits): read with OpenCV, float32 HxWx3 (alpha
  composited on the background, scaled to 16 bits).
* TIFFs read with `tifffile` when their data type is not uint8, when they have other than 1, 3 or
  4 samples per pixel, or when they have several pages of one shape and the run does not read 1
  or 3 channels (``--in-chans N``; the data scan counts all pages): samples and pages become
  channels (page-major: page 0's samples first). A TIFF whose pages differ in shape uses its first.
* The result has the run's channel count: equal counts as they are, one channel repeated, three
  channels to one by luminance (ITU-R 601-2, as Pillow's "L"); any other mismatch is refused
  ("unsupported format", saying which ``--in-chans`` reads the file).
* EXIF orientation is applied to files Pillow decodes; TIFFs read by tifffile and 16-bit RGB PNGs
  keep their stored orientation.
"""

from __future__ import annotations

import io
from typing import IO

import numpy as np
from PIL import Image

from visionfit.data.decode_errors import ImageDecodeError, _classify

HIGH_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")
MAX_CHANNELS = 64  # pages or samples read as channels; more is refused
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_wide(
    fp: IO[bytes], path: str | None, in_chans: int | None, max_pixels: int
) -> np.ndarray | None:
    """The file's stored values (HxWxC, float32 or uint8) when it needs this module's readers
    (a tifffile TIFF, a 16-bit RGB PNG), else None: Pillow decodes it as before."""
    fp.seek(0)
    head = fp.read(32)
    fp.seek(0)
    if head[:4] in TIFF_MAGIC and _tiff_is_wide(fp, in_chans):
        return _read_tiff(fp, path, in_chans, max_pixels)
    if head[:8] == _PNG_SIGNATURE and len(head) >= 26 and head[24] == 16 and head[25] in (2, 6):
        return _read_png16(fp, path, max_pixels)
    return None


def _tiff_is_wide(fp: IO[bytes], in_chans: int | None) -> bool:
    import tifffile

    try:
        with tifffile.TiffFile(fp) as tf:
            first = tf.pages.first
            if first.dtype is None or np.dtype(first.dtype) != np.uint8:
                return True
            if first.samplesperpixel not in (1, 3, 4):
                return True
            return in_chans not in (1, 3) and len(_same_pages(tf)) > 1
    except Exception:  # a damaged header: Pillow's path says why
        return False
    finally:
        fp.seek(0)


def _same_pages(tf) -> list:
    """The pages that become channels: all, when they share the first page's shape and type."""
    first = tf.pages.first
    pages = []
    for page in tf.pages:
        if page.shape != first.shape or page.dtype != first.dtype:
            return [first]
        pages.append(page)
        if len(pages) > MAX_CHANNELS:
            break
    return pages


def _read_tiff(fp, path, in_chans, max_pixels) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(fp) as tf:
            first = tf.pages.first
            _check_pixels(path, first.imagewidth, first.imagelength, max_pixels)
            pages = (
                _same_pages(tf) if in_chans not in (1, 3) or first.dtype != np.uint8 else [first]
            )
            planes = [_channels_last(p.asarray(), p.axes) for p in pages]
    except ImageDecodeError:
        raise
    except Exception as exc:
        raise _classify(exc, fp, path) from exc
    arr = np.concatenate(planes, axis=2)
    if arr.shape[2] > MAX_CHANNELS:
        raise ImageDecodeError(path, "unsupported format", f"more than {MAX_CHANNELS} channels")
    return _as_values(arr, path)


def _channels_last(arr: np.ndarray, axes: str) -> np.ndarray:
    if arr.ndim == 2:
        return arr[:, :, None]
    if arr.ndim == 3 and axes.startswith("S"):  # planar configuration "separate"
        return np.moveaxis(arr, 0, -1)
    if arr.ndim == 3:
        return arr
    raise ValueError(f"TIFF page of shape {arr.shape} ({axes}); expected a 2-D image")


def _read_png16(fp, path, max_pixels) -> np.ndarray:
    import cv2

    head = fp.read(24)
    fp.seek(0)
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    _check_pixels(path, width, height, max_pixels)
    arr = cv2.imdecode(np.frombuffer(fp.read(), np.uint8), cv2.IMREAD_UNCHANGED)
    fp.seek(0)
    if arr is None or arr.ndim != 3:  # OpenCV says nothing: let Pillow's path say why
        return None
    rgb = arr[:, :, 2::-1].astype(np.float32)
    if arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 65535.0
        rgb = rgb * alpha + 65535.0 * (1.0 - alpha) * _BACKGROUND_UNIT
    return np.ascontiguousarray(rgb)


_BACKGROUND_UNIT = np.ones(3, dtype=np.float32)  # white, as the 8-bit path's default


def _check_pixels(path, width: int, height: int, max_pixels: int) -> None:
    pixels = int(width) * int(height)
    if width <= 0 or height <= 0:
        raise ImageDecodeError(path, "unreadable", f"image has no pixels ({width}x{height})")
    bomb = Image.MAX_IMAGE_PIXELS
    if bomb is not None and pixels > bomb:
        raise ImageDecodeError(path, "decompression bomb", f"{width}x{height} exceeds the limit")
    if pixels > max_pixels:
        raise ImageDecodeError(
            path, "too many pixels", f"{width}x{height} = {pixels} > {max_pixels}"
        )


def _as_values(arr: np.ndarray, path) -> np.ndarray:
    """uint8 stays uint8 (an 8-bit N-channel file); other numbers become float32 values."""
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ImageDecodeError(path, "unsupported format", f"pixel type {arr.dtype}")
    out = arr.astype(np.float32)
    return np.ascontiguousarray(np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0))


def pil_values(img: Image.Image, path) -> np.ndarray:
    """A high-bit Pillow image's stored values, float32 HxWx1."""
    return _as_values(np.asarray(img)[:, :, None], path)


def fit_channels(arr: np.ndarray, in_chans: int | None, path) -> np.ndarray:
    """`arr` (HxWxC) with `in_chans` channels (None: as it is); see the module docstring."""
    have = arr.shape[2]
    if in_chans is None or have == in_chans:
        return arr
    if have == 1:
        return np.ascontiguousarray(np.repeat(arr, in_chans, axis=2))
    if have == 3 and in_chans == 1:
        luma = arr.astype(np.float32) @ _LUMA
        if arr.dtype == np.uint8:
            return np.rint(luma).clip(0, 255).astype(np.uint8)[:, :, None]
        return np.ascontiguousarray(luma[:, :, None])
    raise ImageDecodeError(
        path,
        "unsupported format",
        f"{have} channels where the run reads {in_chans}; --in-chans {have} reads this file",
    )


def bits_used(arr: np.ndarray, stored: str) -> int:
    """How many low bits an integer image's values use (its maximum's bit length); 0 for float
    data and 8 for 8-bit images."""
    if stored == "uint8":
        return 8
    if stored.startswith("float"):
        return 0
    top = float(np.max(arr)) if arr.size else 0.0
    return int(top).bit_length() if top > 0 else 0


def stored_dtype(fp_bytes: bytes | None, arr: np.ndarray, mode: str) -> str:
    """The stored pixel type, e.g. "uint8", "uint16", "int32", "float32" (the scan's report)."""
    if mode.startswith("I;16"):
        return "uint16"
    if mode == "I":
        return "int32"
    if mode == "F":
        return "float32"
    if arr.dtype == np.uint8:
        return "uint8"
    if fp_bytes is not None and fp_bytes[:4] in TIFF_MAGIC:
        import tifffile

        try:
            with tifffile.TiffFile(io.BytesIO(fp_bytes)) as tf:
                return str(np.dtype(tf.pages.first.dtype))
        except Exception:
            return str(arr.dtype)
    if fp_bytes is not None and fp_bytes[:8] == _PNG_SIGNATURE:
        return "uint16"
    return str(arr.dtype)


def depth_label(dtype: str, bits: int) -> str:
    """How `visionfit check` counts a file: "8-bit", "16-bit", "16-bit (values in the low 12
    bits)", "32-bit float", ... (the scan's stored type, the bit length of the largest value)."""
    if not dtype:
        return "unknown"
    kind = np.dtype(dtype)
    size = kind.itemsize * 8
    if kind.kind == "f":
        return f"{size}-bit float"
    label = f"{size}-bit" if kind.kind == "u" else f"{size}-bit signed"
    if size > 8 and 0 < bits < size:
        label += f" (values in the low {bits} bits)"
    return label


def depth_notes(depths: dict[str, int]) -> list[str]:
    """check's warnings about bit depths: high-bit data and a mix of depths."""
    high = {k: n for k, n in depths.items() if k != "8-bit"}
    if not high:
        return []
    notes = [
        f"{n} image(s) {k}: trained as their values (not squeezed to 8 bits), mapped per "
        "channel by --intensity (auto: the training set's 0.5..99.5 percentiles)"
        for k, n in high.items()
    ]
    if len(depths) > 1 and "8-bit" in depths:
        notes.append("8-bit and high-bit-depth images are mixed: one intensity mapping serves both")
    return notes


def display_rgb(arr: np.ndarray) -> np.ndarray:
    """An HxWxC image as uint8 RGB for display only: uint8 1 or 3 channels as they are, other
    channel counts as their mean, high-bit-depth values by the image's own range."""
    from visionfit.data.modes import _scale_to_u8

    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.shape[2] not in (1, 3):
        arr = arr.astype(np.float32).mean(axis=2, keepdims=True)
    if arr.dtype != np.uint8:
        arr = _scale_to_u8(arr)
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr
