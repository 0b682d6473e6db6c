"""Image decoding: the one place where files, bytes and arrays become HxWxC arrays.

Training, prediction, the server and ``visionfit check`` all call :func:`decode_image`, so an image
is decoded the same way everywhere: EXIF orientation applied, modes normalised, transparency
composited on a stated background, high-bit-depth data scaled (not clipped), and bad files turned
into :class:`ImageDecodeError` with a short reason code instead of a crash.

Decisions:

* Files and bytes with high-bit-depth or float data ("I;16*", "I", "F", 16-bit RGB PNG, TIFFs
  read by tifffile) keep their values as float32 (data/highbit.py); the run's intensity setting
  maps them to the network's range once per dataset (data/intensity.py). 8-bit files give the
  same uint8 arrays as ever.
* Numpy arrays and `to_array` (a Pillow image) with 1 or 3 channels: high-bit-depth and float data
  are scaled linearly by the image's own finite min..max range to 0..255. A constant image
  (min == max) maps to all 0. NaN and -inf map to 0, +inf to 255.
* The alpha channel of a non-``uint8`` array is not range-scaled: integer alpha is divided by the
  dtype's maximum (65535 for ``uint16``), float alpha is read as 0..1 and clipped.
* Colour channels of a multi-channel array are scaled jointly (one min..max), keeping hues.
* Multi-frame files (GIF, TIFF) use the first frame, except TIFF pages read as channels
  (data/highbit.py).
* Only PNG, JPEG, BMP, TIFF, WebP and GIF are decoded; other formats Pillow knows (EPS, PSD, ...)
  are refused with reason "unsupported format".
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
import warnings
from collections.abc import Callable
from typing import IO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from visionfit.data import highbit
from visionfit.data.decode_errors import (
    _PIL_FORMATS,
    ImageDecodeError,
    _classify,
    _png_truncated,
    _stream_size,
    _unidentified,
)
from visionfit.data.dicom import decode_dicom, is_dicom
from visionfit.data.modes import (
    Background,
    _array_to_u8,
    _background_rgb,
    _check_in_chans,
    _finish,
    to_array,
)
from visionfit.fileio import UnreadableFileError, open_regular
from visionfit.limits import DEFAULT_MAX_PIXELS, MAX_IMAGE_FILE_BYTES

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "ImageDecodeError",
    "decode_file",
    "decode_image",
    "file_sha1",
    "is_image_file",
    "open_image",
    "to_array",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".dcm", ".dicom"}
)
"""File extensions (lower case, with the dot) treated as images in a dataset folder."""

ImageSource = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | Image.Image
ArraySource = ImageSource | np.ndarray

# Pillow format ids that are decoded; everything else is "unsupported format".


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Return True if ``path`` has an image extension (case-insensitive); the file is not read."""
    return os.path.splitext(os.fsdecode(path))[1].lower() in IMAGE_EXTENSIONS


def file_sha1(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Return the SHA-1 hex digest of a file's bytes (for duplicate detection)."""
    name = os.fsdecode(path)
    digest = hashlib.sha1(usedforsecurity=False)
    with _open_binary(name) as f:
        try:
            while block := f.read(chunk):
                digest.update(block)
        except OSError as exc:
            raise ImageDecodeError(name, "unreadable", exc.strerror or str(exc)) from exc
    return digest.hexdigest()


def _open_binary(path: str) -> IO[bytes]:
    """The file opened for reading (`fileio.open_regular`: a regular file of at most
    MAX_IMAGE_FILE_BYTES, never a FIFO or a device), or an ImageDecodeError saying why not."""
    try:
        return open_regular(path, max_bytes=MAX_IMAGE_FILE_BYTES)
    except UnreadableFileError as e:
        raise unreadable_image(e) from None


def unreadable_image(e: UnreadableFileError) -> ImageDecodeError:
    """The ImageDecodeError for a path `fileio` refused: "missing" or "unreadable (why)"."""
    if e.missing:
        return ImageDecodeError(e.path, "missing", None if e.detail == "no such file" else e.detail)
    return ImageDecodeError(e.path, "unreadable", e.detail)


def read_small_file(path: str | os.PathLike[str]) -> bytes | None:
    """A file's bytes when it is at most `_READ_WHOLE_BYTES` (else None: stream it instead)."""
    name = os.fsdecode(path)
    with _open_binary(name) as f:
        try:
            size = os.fstat(f.fileno()).st_size
            if size > _READ_WHOLE_BYTES:
                return None
            # read(n) allocates n bytes first: asking for the file's size, not the 64 MB bound,
            # spares a 64 MB mapping per file (8 TB mapped and unmapped over 100,000 PNGs)
            data = f.read(size + 1)
            if len(data) > size:  # it grew since the stat: the rest, still bounded
                data += f.read(_READ_WHOLE_BYTES + 1 - len(data))
            return None if len(data) > _READ_WHOLE_BYTES else data
        except OSError as exc:
            raise ImageDecodeError(name, "unreadable", exc.strerror or str(exc)) from exc


class _decoding_warnings(warnings.catch_warnings):
    """Pillow's bomb warning becomes an error; its UserWarnings (corrupt EXIF, short reads) are
    dropped because failures are reported through ImageDecodeError instead."""

    def __enter__(self):
        out = super().__enter__()
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")
        return out


def decode_file(
    path: str | None,
    *,
    in_chans: int | None = 3,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    background: Background = (255, 255, 255),
    data: bytes | None = None,
    on_decoded: Callable[[Image.Image], None] | None = None,
    window: str | None = None,
) -> np.ndarray:
    """Decode the file at `path` to an HxWxC array: the one function that decides whether a
    file is usable, for the data scan (`visionfit check`, the scan before training) and for every
    decode in training (the decode-once cache, the loaders).

    8-bit images give uint8 arrays with 1 or 3 channels as always; high-bit-depth, float and
    N-channel files give float32 arrays of their stored values (data/highbit.py). `in_chans`:
    the channels wanted (any count >= 1; None: the file's own count, 8-bit images as RGB).
    `data`: the file's bytes when the caller has already read them (the scan hashes the same
    bytes); else the file is read here. `on_decoded(img)` sees a Pillow image once its pixels
    are fully and successfully decoded, before the EXIF rotation (to read its format, stored
    mode and EXIF tags without ever touching pixels early). DICOM files (.dcm, or the DICM magic)
    go to data/dicom.py, with `window` (`--window C,W`). Raises :class:`ImageDecodeError`.
    """
    _check_in_chans(in_chans)
    bg = _background_rgb(background)
    _guard_truncated_flag()
    with _decoding_warnings():
        if data is None:
            data = read_small_file(path)
        if is_dicom(path, data):
            with io.BytesIO(data) if data is not None else _open_binary(path) as f:
                kw = {"max_pixels": max_pixels, "window": window, "on_decoded": on_decoded}
                return decode_dicom(f, path, in_chans=in_chans, **kw)
        # a large file is decoded from the file rather than held in memory
        with io.BytesIO(data) if data is not None else _open_binary(path) as fp:
            wide = (
                None if _stream_size(fp) == 0 else highbit.read_wide(fp, path, in_chans, max_pixels)
            )
            if wide is not None:
                return highbit.fit_channels(wide, in_chans, path)
            img = _open_stream(fp, path, max_pixels, on_decoded)
    try:
        return _opened_to_array(img, in_chans, bg, path)
    finally:
        img.close()


def _opened_to_array(img: Image.Image, in_chans: int | None, bg, path) -> np.ndarray:
    if img.mode in highbit.HIGH_BIT_MODES:
        return highbit.fit_channels(highbit.pil_values(img, path), in_chans, path)
    if in_chans is None or in_chans in (1, 3):
        return to_array(img, in_chans=in_chans or 3, background=bg)  # the 8-bit path
    # N channels from an 8-bit image: its own channels (L, LA, RGB, RGBA), alpha kept as one
    arr = to_array(img, in_chans=3, background=bg) if img.mode not in _AS_STORED else None
    if arr is None:
        arr = np.asarray(img)
        arr = arr[:, :, None] if arr.ndim == 2 else arr
    return highbit.fit_channels(np.ascontiguousarray(arr, dtype=np.uint8), in_chans, path)


_AS_STORED = frozenset({"L", "LA", "RGB", "RGBA"})


# --------------------------------------------------------------------------------------------
# Opening


def open_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open and fully decode an image, applying its EXIF orientation.

    ``source`` is a path, bytes, a binary file-like object or a ``PIL.Image.Image``. Files are
    opened read-only and closed before returning. Raises :class:`ImageDecodeError` with a reason
    code; images with more than ``max_pixels`` pixels are refused before their pixels are decoded.
    """
    _guard_truncated_flag()
    with _decoding_warnings():
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


_READ_WHOLE_BYTES = 64 << 20  # larger files are decoded from the file, not from memory


def _open_path(path: str, max_pixels: int) -> Image.Image:
    # one read instead of Pillow's many small reads and seeks: twice as fast on small files
    data = read_small_file(path)
    if data is not None:
        return _open_stream(io.BytesIO(data), path, max_pixels)
    with _open_binary(path) as f:
        return _open_stream(f, path, max_pixels)


def _open_stream(fp: IO[bytes], path: str | None, max_pixels: int, on_decoded=None) -> Image.Image:
    """Decode from a seekable binary stream positioned at 0; ``fp`` is not closed here."""
    if _stream_size(fp) == 0:
        raise ImageDecodeError(path, "zero bytes")
    with _pil_open(fp, path) as img:
        return _decode_pil(img, path, max_pixels, fp, on_decoded)


def _pil_open(fp: IO[bytes], path: str | None) -> Image.Image:
    """`Image.open` (header only) with its failures turned into ImageDecodeError."""
    try:
        fp.seek(0)
        return Image.open(fp, formats=_PIL_FORMATS)
    except UnidentifiedImageError:
        raise _unidentified(fp, path) from None
    except ImageDecodeError:
        raise
    except Exception as exc:
        raise _classify(exc, fp, path) from exc


def _pixels_touched(img: Image.Image) -> bool:
    """True when a pixel buffer exists already: a load ran (maybe failed half-way) since open."""
    state = vars(img)
    return state.get("_im", state.get("im")) is not None


def _decode_pil(
    img: Image.Image,
    path: str | None,
    max_pixels: int,
    fp: IO[bytes] | None,
    on_decoded=None,
    *,
    reopened: bool = False,
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
    if fp is not None and _pixels_touched(img) and not reopened:
        # Something loaded this image's pixels before us (Pillow's PNG getexif() does when the
        # eXIf chunk follows IDAT): a failed load leaves a half-filled image whose next load()
        # returns without error. Decide on a fresh open of the same bytes, never on that state.
        with _pil_open(fp, path) as fresh:
            return _decode_pil(fresh, path, max_pixels, fp, on_decoded, reopened=True)
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
    if on_decoded is not None:
        on_decoded(img)
    try:
        out = ImageOps.exif_transpose(img)
    except Exception:  # corrupt EXIF: keep the stored orientation, the same way everywhere
        out = img.copy()
    if out is img:
        out = img.copy()
    return out


# --------------------------------------------------------------------------------------------
# Structural truncation checks (used when Pillow fails without saying why, and for PNG's tail)


# --------------------------------------------------------------------------------------------
# Normalisation to uint8 HxWxC


def decode_image(
    source: ArraySource,
    *,
    in_chans: int | None = 3,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    background: Background = (255, 255, 255),
    window: str | None = None,
) -> np.ndarray:
    """Decode ``source`` to an HxWxC array: the one decoder for training, prediction, check.

    ``source`` is anything :func:`open_image` accepts (paths and bytes as :func:`decode_file`:
    uint8 for 8-bit images, float32 values for high-bit-depth and N-channel files), or a numpy
    array (HxW, HxWx1, HxWx3, HxWx4; uint8, uint16 or float) brought to uint8 by its own range as
    the module docstring says; with ``in_chans`` other than 1 or 3 an array keeps its values.
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
        if in_chans is None or in_chans not in (1, 3):
            arr = source[:, :, None] if source.ndim == 2 else source
            return highbit.fit_channels(highbit._as_values(arr, None), in_chans, None)
        return _finish(_array_to_u8(source), in_chans, bg)
    if isinstance(source, (str, os.PathLike)):  # the path every training decode takes
        return decode_file(
            os.fsdecode(source),
            in_chans=in_chans,
            max_pixels=max_pixels,
            background=bg,
            window=window,
        )
    if isinstance(source, (bytes, bytearray, memoryview)) and is_dicom(None, bytes(source[:132])):
        with io.BytesIO(bytes(source)) as f:  # an upload to the server, a DICOM in a Parquet
            return decode_dicom(f, None, in_chans=in_chans, max_pixels=max_pixels, window=window)
    if isinstance(source, (bytes, bytearray, memoryview)):  # uploads: as files are decoded
        return decode_file(
            None,
            in_chans=in_chans,
            max_pixels=max_pixels,
            background=bg,
            data=bytes(source),
            window=window,
        )
    img = open_image(source, max_pixels=max_pixels)
    try:
        return _opened_to_array(img, in_chans, bg, None)
    finally:
        img.close()
