"""RLE encode/decode: both formats, both pixel orders, edge masks, several rows per image."""

from __future__ import annotations

import numpy as np
import pytest

from visionfit.data.rle import is_empty_rle, parse_rle, rle_decode, rle_decode_rows, rle_encode
from visionfit.errors import DataError


def siim_rle2mask(rle: str, width: int, height: int) -> np.ndarray:
    """The SIIM-ACR competition's own decoder (mask_functions.py), used as the reference."""
    mask = np.zeros(width * height)
    array = np.asarray([int(x) for x in rle.split()])
    starts = array[0::2]
    lengths = array[1::2]
    current_position = 0
    for index, start in enumerate(starts):
        current_position += start
        mask[current_position : current_position + lengths[index]] = 255
        current_position += lengths[index]
    return mask.reshape(width, height)


def kaggle_rle_decode(rle: str, shape: tuple[int, int]) -> np.ndarray:
    """The decoder from Kaggle kernels (Airbus, Severstal): 1-based, column-major."""
    s = rle.split()
    starts, lengths = [np.asarray(x, dtype=int) for x in (s[0:][::2], s[1:][::2])]
    starts -= 1
    ends = starts + lengths
    img = np.zeros(shape[0] * shape[1], dtype=np.uint8)
    for lo, hi in zip(starts, ends, strict=True):
        img[lo:hi] = 1
    return img.reshape(shape, order="F")


def _masks():
    rng = np.random.default_rng(0)
    h, w = 7, 5
    random = (rng.random((h, w)) > 0.6).astype(np.uint8)
    last = np.zeros((h, w), np.uint8)
    last[-1, -1] = 1  # touches the last pixel in both orders
    first = np.zeros((h, w), np.uint8)
    first[0, 0] = 1
    return {
        "random": random,
        "last_pixel": last,
        "first_pixel": first,
        "empty": np.zeros((h, w), np.uint8),
        "full": np.ones((h, w), np.uint8),
        "last_column": np.pad(np.ones((h, 1), np.uint8), ((0, 0), (w - 1, 0))),
    }


@pytest.mark.parametrize("fmt", ["kaggle", "siim"])
@pytest.mark.parametrize("order", ["F", "C"])
@pytest.mark.parametrize("name", list(_masks()))
def test_round_trip(fmt, order, name):
    mask = _masks()[name]
    text = rle_encode(mask, fmt=fmt, order=order)
    back = rle_decode(text, mask.shape, fmt=fmt, order=order)
    assert back.dtype == np.uint8 and back.shape == mask.shape
    np.testing.assert_array_equal(back, mask)


def test_kaggle_values_and_reference_decoder():
    m = np.zeros((3, 4), np.uint8)
    m[1:, 3] = 1  # column-major positions 10, 11 (0-based) -> "11 2"
    m[0, 0] = 1
    assert rle_encode(m) == "1 1 11 2"
    assert rle_encode(m, order="C") == "1 1 8 1 12 1"
    full = np.ones((3, 4), np.uint8)
    assert rle_encode(full) == "1 12"
    assert rle_encode(np.zeros((3, 4))) == ""
    for mask in _masks().values():
        text = rle_encode(mask)
        if text:
            np.testing.assert_array_equal(kaggle_rle_decode(text, mask.shape), mask)


def test_siim_matches_the_competition_decoder():
    m = np.zeros((4, 4), np.uint8)
    m[1:3, 1] = 1  # column-major 5, 6
    m[0, 3] = 1  # column-major 12
    text = rle_encode(m, fmt="siim")
    assert text == "5 2 5 1"  # 0-based start 5, then 5 pixels after the end of the first run
    assert rle_encode(np.zeros((4, 4)), fmt="siim") == "-1"
    for mask in _masks().values():
        text = rle_encode(mask, fmt="siim")
        if text != "-1":
            # SIIM's rle2mask(...).T is the image: its flattening is column-major
            ref = siim_rle2mask(text, mask.shape[1], mask.shape[0]).T
            np.testing.assert_array_equal((ref > 0).astype(np.uint8), mask)


def test_several_rows_per_image_are_merged():
    a = np.zeros((6, 6), np.uint8)
    a[0:2, 0:2] = 1
    b = np.zeros((6, 6), np.uint8)
    b[4:6, 3:6] = 1
    b[1, 1] = 1  # overlaps a
    for fmt in ("kaggle", "siim"):
        rows = [rle_encode(a, fmt=fmt), "-1", rle_encode(b, fmt=fmt), "", float("nan")]
        merged = rle_decode_rows(rows, a.shape, fmt=fmt)
        np.testing.assert_array_equal(merged, a | b)


def test_empty_values():
    for v in ("", "-1", " -1 ", "  ", None, float("nan"), "nan"):
        assert is_empty_rle(v)
        assert rle_decode(v, (3, 3)).sum() == 0
    assert rle_encode(np.zeros((2, 2)), empty="-1") == "-1"


def test_bad_rle_errors_name_the_place():
    with pytest.raises(DataError, match="train.csv line 3.*odd number"):
        parse_rle("1 2 3", where="train.csv line 3")
    with pytest.raises(DataError, match="not an integer"):
        parse_rle("1 x", where="r")
    with pytest.raises(DataError, match="1-based.*siim"):
        parse_rle("0 3", fmt="kaggle")
    with pytest.raises(DataError, match="only 9 pixels"):
        rle_decode("8 5", (3, 3))
    with pytest.raises(DataError, match="unknown RLE format"):
        rle_encode(np.zeros((2, 2)), fmt="coco")
