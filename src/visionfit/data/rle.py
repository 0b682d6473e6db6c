"""Run-length encoded masks, as in Kaggle segmentation CSVs.

Two formats, both a space-separated list of ``start length`` pairs over the flattened mask:

* ``kaggle``: starts are 1-based absolute pixel positions (Carvana, Airbus, Severstal, ...).
* ``siim``: the SIIM-ACR pneumothorax encoding: the first start is a 0-based absolute position,
  every later start is the number of background pixels since the end of the previous run.

Pixel order is column-major by default (``order="F"``: top to bottom, then left to right, the
order of most Kaggle competitions and of SIIM's ``rle2mask(...).T``); ``order="C"`` is row-major.

An empty mask is written as ``""`` (kaggle) or ``"-1"`` (siim) unless ``empty`` says otherwise;
on reading, ``""``, ``"-1"``, whitespace and NaN all mean an empty mask. Several rows for one image
(one per component, as in SIIM) are merged with a logical OR. Multi-class CSVs (Severstal's
``ImageId,ClassId,EncodedPixels``) decode with `rle_decode_classes`: each row paints its class,
and where two classes' runs overlap the higher class id wins (whatever the rows' order).

>>> m = np.zeros((3, 4), np.uint8); m[1:, 3] = 1
>>> rle_encode(m)            # column-major, 1-based: pixels 11 and 12
'11 2'
>>> rle_encode(m, fmt="siim")
'10 2'
>>> bool((rle_decode("11 2", (3, 4)) == m).all())
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from visionfit.errors import DataError
from visionfit.text import clip

RLE_FORMATS = ("kaggle", "siim")
RLE_ORDERS = ("F", "C")
EMPTY_TOKENS = {"kaggle": "", "siim": "-1"}
_MAX_RLE_VALUE = 2**40

__all__ = [
    "EMPTY_TOKENS",
    "RLE_FORMATS",
    "RLE_ORDERS",
    "is_empty_rle",
    "parse_rle",
    "rle_decode",
    "rle_decode_classes",
    "rle_decode_rows",
    "rle_encode",
]


def _check(fmt: str, order: str) -> None:
    if fmt not in RLE_FORMATS:
        raise DataError(f"unknown RLE format {fmt!r}; choose from {', '.join(RLE_FORMATS)}")
    if order not in RLE_ORDERS:
        raise DataError(
            f"unknown RLE pixel order {order!r}; choose F (column-major) or C (row-major)"
        )


def is_empty_rle(value) -> bool:
    """True for the values that mean "no mask": "", "-1", whitespace, None and NaN."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    text = str(value).strip()
    return text in ("", "-1") or text.lower() == "nan"


def parse_rle(value, *, fmt: str = "kaggle", where: str = "RLE") -> tuple[np.ndarray, np.ndarray]:
    """0-based absolute run starts and run lengths (int64 arrays) of one RLE string.

    Raises DataError (naming `where`) for text that is not an even list of non-negative integers.
    """
    if fmt not in RLE_FORMATS:
        _check(fmt, "F")
    if is_empty_rle(value):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    parts = str(value).split()
    try:
        ints = [int(p) for p in parts]
    except ValueError:
        bad = next(p for p in parts if not p.lstrip("-").isdigit())
        bad = clip(bad, 40)
        raise DataError(f"{where}: {bad} is not an integer in the RLE string") from None
    # No image has 2**40 pixels; a bound also keeps start + length inside int64.
    if ints and max(abs(v) for v in ints) > _MAX_RLE_VALUE:
        raise DataError(
            f"{where}: RLE value {clip(str(max(ints, key=abs)), 40)} is larger than any image"
        )
    nums = np.array(ints, dtype=np.int64)
    if len(nums) % 2:
        raise DataError(
            f"{where}: RLE has an odd number of values ({len(nums)}); it must be start/length pairs"
        )
    starts, lengths = nums[0::2], nums[1::2]
    if (lengths < 0).any():
        raise DataError(f"{where}: RLE has a negative run length")
    if fmt == "kaggle":
        if (starts < 1).any():
            raise DataError(
                f"{where}: kaggle RLE starts are 1-based, found {int(starts.min())} "
                "(is this the siim format? use --rle-format siim)"
            )
        return starts - 1, lengths
    if (starts < 0).any():
        raise DataError(f"{where}: siim RLE has a negative offset {int(starts.min())}")
    # start_k = sum(offsets[:k+1]) + sum(lengths[:k])
    absolute = np.cumsum(starts) + np.cumsum(lengths) - lengths
    return absolute, lengths


def rle_decode_rows(
    values: Iterable,
    shape: tuple[int, int],
    *,
    fmt: str = "kaggle",
    order: str = "F",
    where: str = "RLE",
) -> np.ndarray:
    """Decode and OR together several RLE rows for one image into a uint8 (H, W) 0/1 mask."""
    _check(fmt, order)
    h, w = int(shape[0]), int(shape[1])
    n = h * w
    delta = np.zeros(n + 1, np.int32)
    for value in values:
        starts, lengths = parse_rle(value, fmt=fmt, where=where)
        if not len(starts):
            continue
        ends = starts + lengths
        if int(ends.max()) > n:
            raise DataError(
                f"{where}: RLE run ends at pixel {int(ends.max())} but the image has only {n} "
                f"pixels ({w}x{h}); wrong image, wrong --rle-format or --rle-order?"
            )
        np.add.at(delta, starts, 1)
        np.add.at(delta, ends, -1)
    flat = (np.cumsum(delta[:n]) > 0).astype(np.uint8)
    return flat.reshape((h, w), order=order)


def rle_decode_classes(
    values: Iterable,
    classes: Iterable[int],
    shape: tuple[int, int],
    *,
    fmt: str = "kaggle",
    order: str = "F",
    where: str = "RLE",
) -> np.ndarray:
    """A uint8 (H, W) class-index mask from one image's RLE rows and their class ids: every
    row's pixels take its class; where classes overlap, the higher class id wins. With every
    class 1 this is `rle_decode_rows` (the rows OR-ed)."""
    rows: dict[int, list] = {}
    for value, c in zip(values, classes, strict=True):
        rows.setdefault(int(c), []).append(value)
    out = np.zeros((int(shape[0]), int(shape[1])), np.uint8)
    for c in sorted(rows):  # ascending: a higher class paints over a lower one
        if c <= 0:  # class 0 rows (an image listed with no mask) paint nothing
            continue
        out[rle_decode_rows(rows[c], shape, fmt=fmt, order=order, where=where) > 0] = c
    return out


def rle_decode(
    value, shape: tuple[int, int], *, fmt: str = "kaggle", order: str = "F", where: str = "RLE"
) -> np.ndarray:
    """Decode one RLE string into a uint8 (H, W) 0/1 mask."""
    return rle_decode_rows([value], shape, fmt=fmt, order=order, where=where)


def rle_encode(
    mask: np.ndarray, *, fmt: str = "kaggle", order: str = "F", empty: str | None = None
) -> str:
    """Encode the non-zero pixels of an (H, W) mask; `empty` is what an empty mask becomes."""
    _check(fmt, order)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"rle_encode needs an (H, W) mask, got shape {mask.shape}")
    flat = (mask.reshape(-1, order=order) != 0).astype(np.int8)
    if not flat.any():
        return EMPTY_TOKENS[fmt] if empty is None else empty
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flat, [0]))))
    starts, ends = edges[0::2], edges[1::2]
    lengths = ends - starts
    if fmt == "kaggle":
        firsts = starts + 1
    else:
        firsts = starts - np.concatenate(([0], ends[:-1]))
    pairs = np.empty(2 * len(starts), np.int64)
    pairs[0::2], pairs[1::2] = firsts, lengths
    return " ".join(map(str, pairs.tolist()))
