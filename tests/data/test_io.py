"""Tests for visionfit.data.io: modes, EXIF orientation, bad files, limits, arrays, file safety."""

from __future__ import annotations

import gc
import hashlib
import io
import os
import pickle
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from visionfit.data.io import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    ImageDecodeError,
    decode_image,
    file_sha1,
    is_image_file,
    open_image,
    to_array,
)
from visionfit.errors import DataError, VisionfitError

WHITE = (255, 255, 255)


def luma(rgb: tuple[int, int, int]) -> int:
    """ITU-R 601-2 luma, as Pillow's "L" conversion computes it (within rounding)."""
    r, g, b = rgb
    return round(r * 299 / 1000 + g * 587 / 1000 + b * 114 / 1000)


def png_chunk(ctype: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(ctype + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", crc)


def raw_png(width: int, height: int, bit_depth: int, color_type: int, rows: list[bytes]) -> bytes:
    """A minimal PNG written by hand (for what Pillow cannot save, such as 16-bit RGB)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + row for row in rows))
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def noise_rgb(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(img: Image.Image, path: Path, **kwargs) -> Path:
    img.save(path, **kwargs)
    return path


def reason_of(source, **kwargs) -> str:
    with pytest.raises(ImageDecodeError) as info:
        decode_image(source, **kwargs)
    return info.value.reason


# ---------------------------------------------------------------------------------------------
# Constants and small helpers


def test_constants() -> None:
    assert Image.MAX_IMAGE_PIXELS is not None
    assert 0 < DEFAULT_MAX_PIXELS < Image.MAX_IMAGE_PIXELS
    assert IMAGE_EXTENSIONS == {
        ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".dcm", ".dicom"
    }  # fmt: skip
    assert all(ext == ext.lower() for ext in IMAGE_EXTENSIONS)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.png", True),
        ("a.JPG", True),
        ("dir/b.JpEg", True),
        ("c.tiff", True),
        ("d.webp", True),
        ("e.gif", False),
        ("f.txt", False),
        ("png", False),
        ("g.png.bak", False),
    ],
)
def test_is_image_file(name: str, expected: bool) -> None:
    assert is_image_file(name) is expected
    assert is_image_file(Path(name)) is expected


def test_file_sha1(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    data = os.urandom(3000)
    path.write_bytes(data)
    assert file_sha1(path, chunk=1000) == hashlib.sha1(data).hexdigest()
    assert file_sha1(str(path)) == hashlib.sha1(data).hexdigest()
    with pytest.raises(ImageDecodeError) as info:
        file_sha1(tmp_path / "nope.png")
    assert info.value.reason == "missing"


def test_error_type_and_message() -> None:
    err = ImageDecodeError("/data/cat.png", "truncated", "image file is truncated")
    assert isinstance(err, DataError) and isinstance(err, VisionfitError)
    assert err.path == "/data/cat.png" and err.reason == "truncated"
    assert str(err) == "/data/cat.png: truncated (image file is truncated)"
    assert "\n" not in str(ImageDecodeError("p.png", "unreadable", "line one\nline two"))
    assert str(ImageDecodeError("p.png", "missing")) == "p.png: missing"
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.path, clone.reason, str(clone)) == (err.path, err.reason, str(err))
    with pytest.raises(ValueError):
        ImageDecodeError("p.png", "weird")


# ---------------------------------------------------------------------------------------------
# Modes: one fixture per mode, checked for in_chans=3 and in_chans=1


def test_mode_rgb(tmp_path: Path) -> None:
    arr = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    path = save(Image.fromarray(arr), tmp_path / "rgb.png")
    out3 = decode_image(path)
    assert out3.shape == (1, 3, 3) and out3.dtype == np.uint8 and out3.flags.c_contiguous
    assert np.array_equal(out3, arr)
    out1 = decode_image(path, in_chans=1)
    assert out1.shape == (1, 3, 1) and out1.flags.c_contiguous
    expected = [luma((255, 0, 0)), luma((0, 255, 0)), luma((0, 0, 255))]
    assert np.abs(out1[0, :, 0].astype(int) - expected).max() <= 1


def test_mode_l(tmp_path: Path) -> None:
    arr = np.array([[0, 77, 200, 255]], dtype=np.uint8)
    path = save(Image.fromarray(arr), tmp_path / "l.png")
    with Image.open(path) as check:
        assert check.mode == "L"
    out3 = decode_image(path)
    assert out3.shape == (1, 4, 3)
    assert np.array_equal(out3, np.repeat(arr[:, :, None], 3, axis=2))
    out1 = decode_image(path, in_chans=1)
    assert out1.shape == (1, 4, 1)
    assert np.array_equal(out1[:, :, 0], arr)


def test_mode_1() -> None:
    img = Image.new("1", (2, 1))
    img.putpixel((1, 0), 1)
    out = to_array(img, in_chans=1)
    assert out[0, :, 0].tolist() == [0, 255]
    assert to_array(img).shape == (1, 2, 3)


def _palette_image() -> Image.Image:
    img = Image.new("P", (3, 1))
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0, 0, 0] * 253)
    img.putdata([0, 1, 2])
    return img


def test_mode_p_without_transparency(tmp_path: Path) -> None:
    path = save(_palette_image(), tmp_path / "p.png")
    with Image.open(path) as check:
        assert check.mode == "P" and "transparency" not in check.info
    out3 = decode_image(path)
    assert out3.shape == (1, 3, 3)
    assert out3[0].tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
    out1 = decode_image(path, in_chans=1)
    assert out1.shape == (1, 3, 1)
    expected = [luma((255, 0, 0)), luma((0, 255, 0)), luma((0, 0, 255))]
    assert np.abs(out1[0, :, 0].astype(int) - expected).max() <= 1


def test_mode_p_with_transparency(tmp_path: Path) -> None:
    path = save(_palette_image(), tmp_path / "pt.png", transparency=0)  # red index transparent
    with Image.open(path) as check:
        assert check.mode == "P" and "transparency" in check.info
    out3 = decode_image(path)
    assert out3[0].tolist() == [[255, 255, 255], [0, 255, 0], [0, 0, 255]]
    blue_bg = decode_image(path, background=(0, 0, 255))
    assert blue_bg[0, 0].tolist() == [0, 0, 255]
    out1 = decode_image(path, in_chans=1)
    assert out1.shape == (1, 3, 1)
    assert out1[0, 0, 0] == 255  # transparent -> white background
    assert abs(int(out1[0, 1, 0]) - luma((0, 255, 0))) <= 1


def test_mode_la(tmp_path: Path) -> None:
    img = Image.new("LA", (3, 1))
    img.putdata([(100, 0), (100, 255), (100, 128)])
    path = save(img, tmp_path / "la.png")
    with Image.open(path) as check:
        assert check.mode == "LA"
    out3 = decode_image(path)
    assert out3.shape == (1, 3, 3)
    assert out3[0, 0].tolist() == [255, 255, 255]  # fully transparent -> background
    assert out3[0, 1].tolist() == [100, 100, 100]  # opaque -> unchanged
    half = round(100 * 128 / 255 + 255 * 127 / 255)
    assert np.abs(out3[0, 2].astype(int) - half).max() <= 1
    out1 = decode_image(path, in_chans=1)
    assert out1.shape == (1, 3, 1)
    assert out1[0, :2, 0].tolist() == [255, 100]
    black = decode_image(path, background=(0, 0, 0), in_chans=1)
    assert black[0, 0, 0] == 0


def test_mode_rgba(tmp_path: Path) -> None:
    img = Image.new("RGBA", (3, 1))
    img.putdata([(255, 0, 0, 0), (255, 0, 0, 255), (0, 0, 255, 128)])
    path = save(img, tmp_path / "rgba.png")
    out3 = decode_image(path)
    assert out3.shape == (1, 3, 3)
    assert out3[0, 0].tolist() == [255, 255, 255]  # fully transparent red becomes white
    assert out3[0, 1].tolist() == [255, 0, 0]
    expected_half = [round(255 * 127 / 255), round(255 * 127 / 255), 255]
    assert np.abs(out3[0, 2].astype(int) - expected_half).max() <= 1
    out1 = decode_image(path, in_chans=1)
    assert out1.shape == (1, 3, 1)
    assert out1[0, 0, 0] == 255
    assert abs(int(out1[0, 1, 0]) - luma((255, 0, 0))) <= 1
    grey_bg = decode_image(path, background=(10, 20, 30))
    assert grey_bg[0, 0].tolist() == [10, 20, 30]


def test_mode_cmyk(tmp_path: Path) -> None:
    img = Image.new("CMYK", (3, 1))
    img.putdata([(0, 0, 0, 0), (255, 0, 0, 0), (0, 0, 0, 255)])  # white, cyan, black
    path = save(img, tmp_path / "cmyk.jpg", quality=100)
    with Image.open(path) as check:
        assert check.mode == "CMYK"
    out3 = decode_image(path)
    assert out3.shape == (1, 3, 3)
    # JPEG is lossy and 3 pixels share one block: check against a tiff copy exactly instead.
    tiff = save(img, tmp_path / "cmyk.tif")
    exact = decode_image(tiff)
    assert exact[0].tolist() == [[255, 255, 255], [0, 255, 255], [0, 0, 0]]
    out1 = decode_image(tiff, in_chans=1)
    assert out1.shape == (1, 3, 1)
    assert out1[0, 0, 0] == 255 and out1[0, 2, 0] == 0
    assert abs(int(out1[0, 1, 0]) - luma((0, 255, 255))) <= 1


def test_mode_i16_file_keeps_its_values(tmp_path: Path) -> None:
    # a 16-bit file is decoded to its values (float32), not squeezed to 8 bits: the run's
    # intensity mapping (data/intensity.py) brings them to the network's range
    grad = np.linspace(0, 4000, 101).round().astype(np.uint16).reshape(1, 101)
    path = save(Image.fromarray(grad), tmp_path / "i16.png")
    with Image.open(path) as check:
        assert check.mode.startswith("I;16")
    out1 = decode_image(path, in_chans=1)
    assert out1.shape == (1, 101, 1) and out1.dtype == np.float32
    assert np.array_equal(out1[0, :, 0], grad[0].astype(np.float32))
    out3 = decode_image(path)
    assert out3.shape == (1, 101, 3)
    assert np.array_equal(out3[:, :, 0], out1[:, :, 0])
    assert np.array_equal(out3[:, :, 1], out3[:, :, 2])
    # bytes (an upload to serve) decode the same way
    assert np.array_equal(decode_image(path.read_bytes(), in_chans=1), out1)


def test_mode_i16_offset_range_is_scaled() -> None:
    arr = np.array([[1000, 1500, 2000]], dtype=np.uint16)
    out = to_array(Image.fromarray(arr), in_chans=1)
    assert out[0, :, 0].tolist() == [0, 128, 255]


def test_mode_i_and_f() -> None:
    i_img = Image.fromarray(np.array([[-5000, 0, 5000]], dtype=np.int32), mode="I")
    assert to_array(i_img, in_chans=1)[0, :, 0].tolist() == [0, 128, 255]
    f_img = Image.fromarray(np.array([[0.25, 0.5, 0.75]], dtype=np.float32), mode="F")
    assert f_img.mode == "F"
    assert to_array(f_img, in_chans=1)[0, :, 0].tolist() == [0, 128, 255]


def test_constant_high_bit_image_maps_to_zero() -> None:
    img = Image.fromarray(np.full((2, 2), 4000, dtype=np.uint16))
    assert not to_array(img, in_chans=1).any()


def test_mode_ycbcr_and_rgbx() -> None:
    rgb = Image.fromarray(np.array([[[200, 30, 60], [10, 220, 90]]], dtype=np.uint8))
    ycc = rgb.convert("YCbCr")
    assert np.abs(to_array(ycc).astype(int) - np.asarray(rgb).astype(int)).max() <= 3
    assert np.array_equal(to_array(rgb.convert("RGBX")), np.asarray(rgb))


def test_16bit_rgb_and_rgba_png() -> None:
    rgb16 = np.zeros((2, 3, 3), dtype=">u2")
    rgb16[0, 0] = (65535, 0, 0)
    rgb16[1, 2] = (0, 65535, 0)
    data = raw_png(3, 2, 16, 2, [rgb16[i].tobytes() for i in range(2)])
    out = decode_image(data)  # 16 bits kept (OpenCV reads them; Pillow would give 8)
    assert out.shape == (2, 3, 3) and out.dtype == np.float32
    assert out[0, 0].tolist() == [65535, 0, 0] and out[1, 2].tolist() == [0, 65535, 0]
    rgba16 = np.zeros((1, 2, 4), dtype=">u2")
    rgba16[0, 0] = (65535, 0, 0, 0)  # transparent red: the white background
    rgba16[0, 1] = (0, 0, 65535, 65535)  # opaque blue
    out = decode_image(raw_png(2, 1, 16, 6, [rgba16[0].tobytes()]))
    assert out[0].tolist() == [[65535, 65535, 65535], [0, 0, 65535]]


def test_multiframe_uses_first_frame(tmp_path: Path) -> None:
    red = Image.new("RGB", (4, 4), (255, 0, 0))
    blue = Image.new("RGB", (4, 4), (0, 0, 255))
    gif = save(red, tmp_path / "anim.gif", save_all=True, append_images=[blue])
    tif = save(red, tmp_path / "pages.tif", save_all=True, append_images=[blue])
    for path in (gif, tif):
        with Image.open(path) as check:
            assert check.n_frames == 2
        out = decode_image(path)
        assert out.shape == (4, 4, 3)
        assert (out == [255, 0, 0]).all()


def test_sources_path_bytes_filelike_pil(tmp_path: Path) -> None:
    arr = noise_rgb(8, 10)
    path = save(Image.fromarray(arr), tmp_path / "n.png")
    data = path.read_bytes()
    expected = decode_image(path)
    assert np.array_equal(expected, arr)
    assert np.array_equal(decode_image(str(path)), arr)
    assert np.array_equal(decode_image(data), arr)
    assert np.array_equal(decode_image(bytearray(data)), arr)
    assert np.array_equal(decode_image(io.BytesIO(data)), arr)
    with open(path, "rb") as f:
        assert np.array_equal(decode_image(f), arr)
    with Image.open(path) as img:
        assert np.array_equal(decode_image(img), arr)
    opened = open_image(path)
    assert isinstance(opened, Image.Image) and opened.size == (10, 8)
    assert np.array_equal(to_array(opened), arr)


def test_bad_arguments() -> None:
    img = Image.new("RGB", (2, 2))
    with pytest.raises(ValueError):
        to_array(img, in_chans=2)
    with pytest.raises(ValueError):
        to_array(img, background=(300, 0, 0))
    with pytest.raises(TypeError):
        open_image(12345)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# EXIF orientation


def _orientation_case(original: np.ndarray, orientation: int) -> np.ndarray:
    """Stored pixels such that displaying them with ``orientation`` gives ``original``."""
    display = {  # EXIF 2.3: how to turn stored pixels into the displayed image
        1: lambda s: s,
        2: lambda s: s[:, ::-1],
        3: lambda s: s[::-1, ::-1],
        4: lambda s: s[::-1, :],
        5: lambda s: s.transpose(1, 0, 2),
        6: lambda s: np.rot90(s, k=-1),  # rotate 90 clockwise
        7: lambda s: np.rot90(s[:, ::-1], k=-1),  # mirror, then rotate 90 clockwise
        8: lambda s: np.rot90(s, k=1),  # rotate 90 counter-clockwise
    }[orientation]
    inverse = {
        1: lambda o: o,
        2: lambda o: o[:, ::-1],
        3: lambda o: o[::-1, ::-1],
        4: lambda o: o[::-1, :],
        5: lambda o: o.transpose(1, 0, 2),
        6: lambda o: np.rot90(o, k=1),
        7: lambda o: np.rot90(o, k=1)[:, ::-1],
        8: lambda o: np.rot90(o, k=-1),
    }[orientation]
    stored = np.ascontiguousarray(inverse(original))
    assert np.array_equal(display(stored), original)  # the test's own tables agree
    return stored


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_png_exact(tmp_path: Path, orientation: int) -> None:
    original = np.zeros((2, 3, 3), dtype=np.uint8)  # 3 wide, 2 tall, distinct corner pixels
    original[0, 0] = (255, 0, 0)
    original[0, 2] = (0, 255, 0)
    original[1, 0] = (0, 0, 255)
    original[1, 2] = (255, 255, 0)
    stored = _orientation_case(original, orientation)
    path = save(Image.fromarray(stored), tmp_path / "o.png", exif=_exif(orientation))
    with Image.open(path) as check:
        assert check.getexif().get(0x0112) == orientation
    out = decode_image(path)
    assert out.shape == (2, 3, 3)
    assert np.array_equal(out, original)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_jpeg_blocks(tmp_path: Path, orientation: int) -> None:
    colors = np.array(
        [[(255, 0, 0), (0, 255, 0), (0, 0, 255)], [(255, 255, 0), (0, 0, 0), (255, 255, 255)]],
        dtype=np.uint8,
    )
    block = 16
    original = np.repeat(np.repeat(colors, block, axis=0), block, axis=1)  # 32 tall x 48 wide
    stored = _orientation_case(original, orientation)
    path = save(Image.fromarray(stored), tmp_path / "o.jpg", exif=_exif(orientation), quality=95)
    out = decode_image(path)
    assert out.shape == original.shape
    centers = out[block // 2 :: block, block // 2 :: block].astype(int)
    assert np.abs(centers - colors.astype(int)).max() <= 24


# ---------------------------------------------------------------------------------------------
# Bad files


@pytest.fixture
def good_jpeg(tmp_path: Path) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(noise_rgb()).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture
def good_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(noise_rgb()).save(buf, "PNG")
    return buf.getvalue()


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageDecodeError) as info:
        decode_image(path)
    assert info.value.reason == "zero bytes"
    assert info.value.path == str(path)
    assert str(info.value) == f"{path}: zero bytes"
    assert reason_of(b"") == "zero bytes"
    assert reason_of(io.BytesIO()) == "zero bytes"


@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_truncated_jpeg(tmp_path: Path, good_jpeg: bytes, fraction: float) -> None:
    path = tmp_path / "cut.jpg"
    path.write_bytes(good_jpeg[: int(len(good_jpeg) * fraction)])
    assert reason_of(path) == "truncated"


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_png(tmp_path: Path, good_png: bytes, keep: float) -> None:
    path = tmp_path / "cut.png"
    path.write_bytes(good_png[: int(len(good_png) * keep)])
    assert reason_of(path) == "truncated"


@pytest.mark.parametrize("missing_tail", [1, 4, 12, 40])
def test_png_missing_its_end_is_truncated(good_png: bytes, missing_tail: int) -> None:
    assert reason_of(good_png[:-missing_tail]) == "truncated"


@pytest.mark.parametrize(
    ("fmt", "kwargs"),
    [
        ("WEBP", {}),
        ("TIFF", {}),
        ("TIFF", {"compression": "tiff_deflate"}),
        ("BMP", {}),
        ("JPEG", {"progressive": True}),
    ],
)
def test_truncated_other_formats(fmt: str, kwargs: dict) -> None:
    buf = io.BytesIO()
    Image.fromarray(noise_rgb(40, 40)).save(buf, fmt, **kwargs)
    data = buf.getvalue()
    for fraction in (0.01, 0.3, 0.7, 0.97):
        assert reason_of(data[: max(1, int(len(data) * fraction))]) == "truncated", fraction


def test_truncated_never_accepted_even_if_flag_set(
    monkeypatch: pytest.MonkeyPatch, good_jpeg: bytes
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.warns(RuntimeWarning, match="LOAD_TRUNCATED_IMAGES"):
        reason = reason_of(good_jpeg[: len(good_jpeg) // 2])
    assert reason == "truncated"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_text_file_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    assert reason_of(path) == "not an image"


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert reason_of(path) == "not an image"


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "gone.png"
    with pytest.raises(ImageDecodeError) as info:
        decode_image(path)
    assert info.value.reason == "missing"
    assert info.value.path == str(path)


def test_directory_is_unreadable(tmp_path: Path) -> None:
    folder = tmp_path / "dir.png"
    folder.mkdir()
    assert reason_of(folder) == "unreadable"


def test_unsupported_formats(tmp_path: Path) -> None:
    ppm = tmp_path / "really_ppm.png"
    Image.new("RGB", (4, 4)).save(ppm, "PPM")
    with pytest.raises(ImageDecodeError) as info:
        decode_image(ppm)
    assert info.value.reason == "unsupported format"
    assert "PPM" in str(info.value)
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    assert reason_of(heic) == "unsupported format"


def test_corrupt_header_is_unreadable(good_png: bytes) -> None:
    broken = bytearray(good_png)
    broken[12:16] = b"XXXX"  # IHDR chunk type destroyed
    assert reason_of(bytes(broken)) == "unreadable"


def test_corrupt_png_data_is_not_accepted(good_png: bytes) -> None:
    broken = bytearray(good_png)
    mid = len(broken) // 2
    broken[mid : mid + 64] = bytes(64)
    assert reason_of(bytes(broken)) in {"unreadable", "truncated"}


# ---------------------------------------------------------------------------------------------
# Pixel limits


def _header_only_png(width: int, height: int) -> bytes:
    """A PNG that claims a size but has almost no pixel data: decoding it fails as truncated."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(10))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)


def test_too_many_pixels_refused_before_decoding() -> None:
    data = _header_only_png(20, 20)
    assert reason_of(data) == "truncated"  # it would fail if its pixels were decoded
    with pytest.raises(ImageDecodeError) as info:
        decode_image(data, max_pixels=100)
    assert info.value.reason == "too many pixels"
    assert "400" in str(info.value)


def test_too_many_pixels_real_image(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (11, 10)), tmp_path / "big.png")
    assert reason_of(path, max_pixels=100) == "too many pixels"
    assert decode_image(path, max_pixels=110).shape == (10, 11, 3)


def test_decompression_bomb() -> None:
    assert Image.MAX_IMAGE_PIXELS is not None
    side = int((Image.MAX_IMAGE_PIXELS * 1.2) ** 0.5)  # above the warning limit only
    assert reason_of(_header_only_png(side, side), max_pixels=10**12) == "decompression bomb"
    side = int((Image.MAX_IMAGE_PIXELS * 2.5) ** 0.5)  # above Pillow's hard limit
    assert reason_of(_header_only_png(side, side), max_pixels=10**12) == "decompression bomb"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the bomb warning must not escape
        assert reason_of(_header_only_png(side, side)) == "decompression bomb"


# ---------------------------------------------------------------------------------------------
# Arrays


def test_array_uint8_passthrough() -> None:
    arr = noise_rgb(5, 7)
    out = decode_image(arr)
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3) and out.flags.c_contiguous
    assert np.array_equal(out, arr)
    gray = arr[:, :, 0]
    assert np.array_equal(decode_image(gray, in_chans=1)[:, :, 0], gray)
    assert np.array_equal(decode_image(gray[:, :, None])[:, :, 2], gray)
    # a non-contiguous view comes back contiguous
    assert decode_image(arr[:, ::2]).flags.c_contiguous


def test_array_uint16_scaled() -> None:
    arr = np.array([[0, 2000, 4000]], dtype=np.uint16)
    out = decode_image(arr, in_chans=1)
    assert out.shape == (1, 3, 1)
    assert out[0, :, 0].tolist() == [0, 128, 255]
    # same numbers as the same data stored in a 16-bit PNG
    assert np.array_equal(out, to_array(Image.fromarray(arr), in_chans=1))


def test_array_float_scaled_jointly() -> None:
    arr = np.zeros((1, 2, 3), dtype=np.float32)
    arr[0, 0] = (0.5, 0.25, 0.0)
    arr[0, 1] = (1.0, 0.75, 0.5)
    out = decode_image(arr)
    assert out[0].tolist() == [[128, 64, 0], [255, 191, 128]]
    const = decode_image(np.full((2, 2), 0.7, dtype=np.float64), in_chans=1)
    assert not const.any()
    with_nan = decode_image(np.array([[np.nan, 0.0, 1.0, np.inf]]), in_chans=1)
    assert with_nan[0, :, 0].tolist() == [0, 0, 255, 255]


def test_array_rgba_composited() -> None:
    arr = np.zeros((1, 3, 4), dtype=np.uint8)
    arr[0, 0] = (255, 0, 0, 0)
    arr[0, 1] = (255, 0, 0, 255)
    arr[0, 2] = (0, 0, 0, 128)
    out = decode_image(arr)
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [255, 0, 0]
    assert np.abs(out[0, 2].astype(int) - 127).max() <= 1
    assert decode_image(arr, in_chans=1).shape == (1, 3, 1)
    # uint16 alpha is absolute (65535 = opaque), colour still range-scaled
    arr16 = np.zeros((1, 2, 4), dtype=np.uint16)
    arr16[0, 0] = (0, 0, 0, 65535)
    arr16[0, 1] = (4000, 4000, 4000, 65535)
    assert decode_image(arr16)[0].tolist() == [[0, 0, 0], [255, 255, 255]]
    # float alpha is 0..1
    arrf = np.zeros((1, 1, 4), dtype=np.float32)
    arrf[0, 0] = (0.0, 0.0, 0.0, 0.0)
    assert decode_image(arrf)[0, 0].tolist() == [255, 255, 255]


def test_array_bad_input() -> None:
    assert reason_of(np.zeros((3, 4, 5), dtype=np.uint8)) == "unsupported format"
    assert reason_of(np.zeros((4,), dtype=np.uint8)) == "unreadable"
    assert reason_of(np.zeros((0, 4, 3), dtype=np.uint8)) == "unreadable"
    assert reason_of(np.zeros((2, 2), dtype=np.complex64)) == "unsupported format"
    assert reason_of(np.zeros((20, 20), dtype=np.uint8), max_pixels=100) == "too many pixels"


# ---------------------------------------------------------------------------------------------
# File safety: read-only, no leaked handles


def _open_fds() -> int | None:
    fd_dir = Path("/proc/self/fd")
    return len(os.listdir(fd_dir)) if fd_dir.is_dir() else None


def test_source_not_modified_and_no_leaks(tmp_path: Path, good_jpeg: bytes) -> None:
    good = save(Image.fromarray(noise_rgb(20, 30)), tmp_path / "good.png")
    jpg = tmp_path / "good.jpg"
    jpg.write_bytes(good_jpeg)
    oriented = save(Image.new("RGB", (3, 2), (9, 9, 9)), tmp_path / "o.jpg", exif=_exif(6))
    anim = save(
        Image.new("RGB", (4, 4)),
        tmp_path / "anim.tif",
        save_all=True,
        append_images=[Image.new("RGB", (4, 4), (1, 2, 3))],
    )
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good_jpeg[: len(good_jpeg) // 2])
    text = tmp_path / "t.png"
    text.write_text("hello")
    files = [good, jpg, oriented, anim, cut, text]
    before = {p: (file_sha1(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files}
    for p in files:
        p.chmod(0o444)  # read-only files decode fine
    gc.collect()  # files earlier tests left to the garbage collector are closed before counting
    fds_before = _open_fds()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            for p in files:
                try:
                    decode_image(p)
                except ImageDecodeError:
                    pass
            with pytest.raises(ImageDecodeError):
                decode_image(p, max_pixels=1)
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    if fds_before is not None:  # a leak leaves more open; other threads may close some
        assert _open_fds() <= fds_before
    after = {p: (file_sha1(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files}
    assert after == before
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in files)


def test_open_image_result_is_detached_from_file(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (5, 4), (1, 2, 3)), tmp_path / "d.png")
    img = open_image(path)
    path.unlink()  # the file is closed and no longer needed
    assert img.getpixel((0, 0)) == (1, 2, 3)
    assert to_array(img).shape == (4, 5, 3)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes and /dev/zero")
def test_pipes_and_devices_are_unreadable_not_waited_on(tmp_path):
    """decode_image, open_image and file_sha1 stat first: a FIFO is never opened for a blocking
    read, /dev/zero (st_size 0, endless) is never read."""
    import threading

    os.mkfifo(tmp_path / "pipe.png")
    outcome: list = []

    def decode_all():
        for path in (tmp_path / "pipe.png", Path("/dev/zero")):
            for fn in (decode_image, open_image, file_sha1):
                try:
                    fn(path)
                except ImageDecodeError as e:
                    outcome.append((e.reason, e.detail))

    t = threading.Thread(target=decode_all, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "blocked on a named pipe or a device"
    assert (
        outcome
        == [("unreadable", "not a regular file (a named pipe)")] * 3
        + [("unreadable", "not a regular file (a device)")] * 3
    )


def test_read_small_file_asks_for_the_file_size_not_the_bound(tmp_path, monkeypatch):
    """read(n) allocates n bytes first: a 64 MB request per tiny image was a 64 MB mapping per
    file; the bytes come back whole, a file past the bound gives None"""
    from visionfit.data import io as vio

    small = tmp_path / "a.png"
    small.write_bytes(b"x" * 1000)
    asked = []
    real_open = vio._open_binary

    def spying_open(name):
        f = real_open(name)
        read = f.read

        class Spy:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                f.close()

            def fileno(self):
                return f.fileno()

            def read(self, n=-1):
                asked.append(n)
                return read(n)

        return Spy()

    monkeypatch.setattr(vio, "_open_binary", spying_open)
    assert vio.read_small_file(small) == b"x" * 1000
    assert max(asked) <= 1001
    monkeypatch.setattr(vio, "_READ_WHOLE_BYTES", 999)
    assert vio.read_small_file(small) is None
