"""DICOM images through pydicom: a file's pixels as the display a radiology viewer shows.

`decode_dicom` is the DICOM branch of the one decoder (data/io.py `decode_file`); the pixel
conversion is `dicom_to_array`, applied in this order (DICOM PS3.3 C.11):

1. the Modality LUT or RescaleSlope / RescaleIntercept (`pydicom.pixels.apply_modality_lut`):
   stored values become physical ones (Hounsfield units for CT);
2. a window: `--window C,W` from the user (several `C,W;C,W`: one channel each), else the file's
   VOI LUT Sequence (`pydicom.pixels.apply_voi_lut`, scaled by the LUT's output bits), else its
   first WindowCenter / WindowWidth, else the full min..max range of the rescaled values (a
   constant image maps to 0). Windows follow the standard's LINEAR function (C - 0.5, W - 1;
   SIGMOID when the file says so) onto 0..255;
3. MONOCHROME1 (high = dark) inverted, so that high values are bright as in MONOCHROME2.

The result is uint8 HxWxC (a display mapping). Colour files (RGB, YBR_*: pydicom converts YBR to
RGB) keep their colours; a window does not apply to them, and more than 8 bits are scaled by
BitsStored. Multi-frame files use their first frame. Compressed transfer syntaxes decode where an
installed pydicom handler can (RLE Lossless and Deflate need nothing more; JPEG, JPEG-LS and
JPEG 2000 need pylibjpeg or gdcm); otherwise the file is refused with reason "unsupported format"
and the transfer syntax named, so `check` lists it and `train` skips it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import IO

import numpy as np
from PIL import Image

from visionfit.config.windows import Window, parse_windows
from visionfit.data.decode_errors import ImageDecodeError
from visionfit.data.modes import _finish

DICOM_EXTENSIONS = frozenset({".dcm", ".dicom"})
PATIENT_KEY = "dicom_patient_id"  # the key of the PIL image's `info` that on_decoded sees


def is_dicom(path: str | None, data: bytes | None) -> bool:
    """A .dcm / .dicom file, or bytes with the DICM magic at byte 128 (any extension)."""
    if path is not None and os.path.splitext(path)[1].lower() in DICOM_EXTENSIONS:
        return True
    return data is not None and data[128:132] == b"DICM"


def decode_dicom(
    fp: IO[bytes],
    path: str | None,
    *,
    in_chans: int,
    max_pixels: int,
    window: str | None = None,
    on_decoded: Callable[[Image.Image], None] | None = None,
) -> np.ndarray:
    """The first frame of the DICOM file `fp` as uint8 HxWx`in_chans` (see the module notes).

    `on_decoded(img)` sees a PIL image of the result, `format` "DICOM", with the file's
    PatientID (or "") in `img.info[PATIENT_KEY]`. Raises ImageDecodeError."""
    ds = _read(fp, path)
    _check_size(ds, path, max_pixels)
    pixels = _first_frame(ds, path)
    windows = parse_windows(window) if window else None
    try:
        arr = dicom_to_array(pixels, ds, windows)
    except (ValueError, TypeError, KeyError, AttributeError) as e:  # bad LUT or window values
        raise ImageDecodeError(path, "unreadable", f"DICOM display values: {e}") from None
    if on_decoded is not None:
        img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
        img.format = "DICOM"
        img.info[PATIENT_KEY] = patient_id(ds)
        on_decoded(img)
    return _finish(arr, in_chans, (255, 255, 255))


def dicom_size(path) -> tuple[int, int] | None:
    """(width, height) of a DICOM file from its header (pixels not read); None when it is none."""
    import pydicom

    from visionfit.fileio import open_regular

    try:
        with open_regular(path) as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        return int(ds.Columns), int(ds.Rows)
    except Exception:
        return None


def patient_id(ds) -> str:
    """The dataset's PatientID, stripped ("" when absent)."""
    return str(ds.get("PatientID", "") or "").strip()


def dicom_to_array(pixels: np.ndarray, ds, windows: tuple[Window, ...] | None = None) -> np.ndarray:
    """One frame's stored `pixels` (HxW or HxWx3, as pydicom decodes them) with its dataset
    `ds` -> uint8 HxWxC: rescale, window (`windows`: one channel each; None: the file's), invert
    MONOCHROME1. The one place the display mapping lives, so it can become float output later."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if pixels.ndim == 3:  # colour: pydicom gives RGB (YBR converted)
        if pixels.dtype == np.uint8:
            return np.ascontiguousarray(pixels)
        top = float(2 ** int(ds.get("BitsStored", 16)) - 1)
        return np.clip(np.round(pixels.astype(np.float64) * 255.0 / top), 0, 255).astype(np.uint8)
    from pydicom.pixels import apply_modality_lut

    values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float64)
    if windows:
        channels = [_linear(values, c, w) for c, w in windows]
    else:
        channels = [_file_display(values, ds)]
    out = np.stack(channels, axis=-1)
    if photometric == "MONOCHROME1":
        out = 1.0 - out
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def _linear(values: np.ndarray, centre: float, width: float) -> np.ndarray:
    """DICOM's LINEAR window (PS3.3 C.11.2.1.2.1) onto 0..1."""
    c, w = centre - 0.5, max(width - 1.0, 1e-6)
    return np.clip((values - c) / w + 0.5, 0.0, 1.0)


def _file_display(values: np.ndarray, ds) -> np.ndarray:
    """The file's own VOI LUT or window onto 0..1; without one, its full range."""
    if "VOILUTSequence" in ds and len(ds.VOILUTSequence):
        from pydicom.pixels import apply_voi_lut

        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        out = np.asarray(apply_voi_lut(values, ds, prefer_lut=True), dtype=np.float64)
        return np.clip(out / float(2**bits - 1), 0.0, 1.0)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        centre, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
        if str(ds.get("VOILUTFunction", "LINEAR")).upper() == "SIGMOID":
            return 1.0 / (1.0 + np.exp(-4.0 * (values - centre) / width))
        return _linear(values, centre, width)
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros_like(values)
    return (values - lo) / (hi - lo)


def _first(value) -> float:
    """The first value of a multi-valued DS (the file's preferred window)."""
    try:
        return float(value[0])
    except TypeError:
        return float(value)


def _read(fp: IO[bytes], path: str | None):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        fp.seek(0)
        # pydicom warns (and goes on) where a file ends early: that is a truncated file here
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(fp)
    except InvalidDicomError:
        raise ImageDecodeError(
            path, "not an image", "not a DICOM file: no DICM prefix or file meta header"
        ) from None
    except (EOFError, OSError) as e:
        raise ImageDecodeError(path, "truncated", f"DICOM header ends early ({e})") from None
    except Exception as e:  # pydicom raises many kinds for a damaged header
        raise ImageDecodeError(
            path, "unreadable", f"DICOM header: {type(e).__name__}: {e}"
        ) from None
    ended = [str(w.message) for w in caught if "end of file" in str(w.message).lower()]
    if ended:
        raise ImageDecodeError(path, "truncated", f"DICOM file ends early ({ended[0]})")
    return ds


def _check_size(ds, path: str | None, max_pixels: int) -> None:
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        modality = str(ds.get("Modality", "") or "?")
        raise ImageDecodeError(
            path, "not an image", f"DICOM file without pixel data (modality {modality})"
        )
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows <= 0 or cols <= 0:
        raise ImageDecodeError(path, "unreadable", f"DICOM image has no pixels ({cols}x{rows})")
    if rows * cols > max_pixels:
        raise ImageDecodeError(
            path, "too many pixels", f"{cols}x{rows} = {rows * cols} > {max_pixels}"
        )


def _first_frame(ds, path: str | None) -> np.ndarray:
    _check_handler(ds, path)
    try:
        ds.pixel_array_options(index=0)  # multi-frame: the first frame only
        with warnings.catch_warnings():  # e.g. "pixel data has trailing padding": it decodes
            warnings.simplefilter("ignore")
            return np.asarray(ds.pixel_array)
    except MemoryError:
        raise ImageDecodeError(path, "too many pixels", "out of memory while decoding") from None
    except Exception as e:
        msg = " ".join(str(e).split())
        low = msg.lower()
        if "less than expected" in low or "end of" in low or "doesn't match the expected" in low:
            raise ImageDecodeError(path, "truncated", f"DICOM pixel data: {msg}") from None
        raise ImageDecodeError(path, "unreadable", f"DICOM pixel data: {msg}") from None


def _check_handler(ds, path: str | None) -> None:
    """Refuse, naming the transfer syntax, a compressed file no installed handler decodes."""
    from pydicom.pixels import get_decoder

    meta = getattr(ds, "file_meta", None)
    uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if uid is None or not uid.is_compressed:
        return
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise ImageDecodeError(
            path, "unsupported format", f"unsupported transfer syntax: {uid.name} ({uid})"
        ) from None
    if not decoder.is_available:
        # pydicom says e.g. "pylibjpeg - requires pylibjpeg>=2.0 and pylibjpeg-libjpeg>=2.1"
        needs = [m.split(" requires ", 1)[-1] for m in sorted(decoder.missing_dependencies)]
        install = f"; install {' or '.join(reversed(needs))}" if needs else ""
        raise ImageDecodeError(
            path, "unsupported format", f"unsupported transfer syntax: {uid.name}{install}"
        )


def patient_groups(df, patient: dict[str, str]):
    """`df` with a `group` column of DICOM PatientIDs (an image without one is its own group),
    so that one patient's images never straddle the split or the folds; and the note saying so.
    All images of one PatientID (an anonymised export): no groups, and the note says why."""
    ids = df["image"].map(lambda p: patient.get(p, ""))
    n = ids[ids != ""].nunique()
    if n < 2 and (ids != "").all():
        return df, f"not grouped by DICOM PatientID: every image has the same one ({ids.iloc[0]!r})"
    out = df.copy()
    out["group"] = ["p:" + i if i else "f:" + p for i, p in zip(ids, df["image"], strict=True)]
    alone = int((ids == "").sum())
    note = f"grouped by DICOM PatientID: {n} patient{'s' if n != 1 else ''}"
    note += f" ({alone} image(s) without one, each its own group)" if alone else ""
    if "split" in out.columns and (out["split"] != "").any():
        sides = out[out["split"] != ""].groupby("group")["split"].nunique()
        if (sides > 1).any():
            return out, note + (
                f"; {int((sides > 1).sum())} patient(s) have images in more than one of the "
                "given splits (folders or --split-col): kept as given"
            )
    return out, note + ": no patient straddles the split or the folds"
