"""High-bit-depth, float and N-channel images (data/highbit.py, data/intensity.py): values kept
through decode, cache and the run's intensity mapping; 8-bit images exactly as before."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from visionfit.data.cache import DecodedCache
from visionfit.data.highbit import depth_label
from visionfit.data.intensity import Intensity, fit_intensity
from visionfit.data.io import ImageDecodeError, decode_file, decode_image, to_array
from visionfit.data.preprocess import Preprocess
from visionfit.data.scan import scan_file
from visionfit.data.transforms import transforms_for


def _twelve_bit(seed: int = 0, size: int = 24) -> np.ndarray:
    """A 16-bit image whose signal uses only the low 12 bits (0..4095)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 500, (size, size)).astype(np.uint16)
    img[6:18, 6:18] += 3500
    return img


def test_16bit_png_and_tiff_keep_their_values(tmp_path):
    img = _twelve_bit()
    png, tif = tmp_path / "a.png", tmp_path / "a.tif"
    Image.fromarray(img).save(png)
    tifffile.imwrite(tif, img)
    for path in (png, tif):
        out = decode_image(path, in_chans=1)
        assert out.dtype == np.float32 and out.shape == (24, 24, 1)
        assert np.array_equal(out[:, :, 0], img.astype(np.float32))
        three = decode_image(path)  # one channel repeated, as 8-bit grayscale is
        assert three.shape == (24, 24, 3) and np.array_equal(three[:, :, 2], out[:, :, 0])


def test_float_tiff_keeps_values_and_sign(tmp_path):
    arr = np.array([[-1.5, 0.0], [0.25, 1e4]], dtype=np.float32)
    tifffile.imwrite(tmp_path / "f.tif", arr)
    out = decode_image(tmp_path / "f.tif", in_chans=1)
    assert out.dtype == np.float32 and out[:, :, 0].tolist() == arr.tolist()
    tifffile.imwrite(tmp_path / "nan.tif", np.array([[np.nan, 2.0]], dtype=np.float32))
    assert decode_image(tmp_path / "nan.tif", in_chans=1)[0, :, 0].tolist() == [0.0, 2.0]


def test_multipage_and_multisample_tiff_become_channels(tmp_path):
    pages = np.stack([_twelve_bit(k) for k in range(5)])  # (5, H, W)
    tifffile.imwrite(tmp_path / "pages.tif", pages)
    out = decode_image(tmp_path / "pages.tif", in_chans=5)
    assert out.shape == (24, 24, 5)
    assert np.array_equal(np.moveaxis(out, 2, 0), pages.astype(np.float32))
    contig = np.moveaxis(pages, 0, 2).copy()  # (H, W, 5): five samples per pixel
    tifffile.imwrite(tmp_path / "samples.tif", contig, planarconfig="contig")
    assert np.array_equal(decode_image(tmp_path / "samples.tif", in_chans=5), out)
    tifffile.imwrite(
        tmp_path / "planar.tif", pages, planarconfig="separate", photometric="minisblack"
    )
    assert np.array_equal(decode_image(tmp_path / "planar.tif", in_chans=5), out)
    # the scan reads every channel; a run with another channel count is told which reads it
    assert decode_file(str(tmp_path / "pages.tif"), in_chans=None).shape == (24, 24, 5)
    with pytest.raises(ImageDecodeError, match="--in-chans 5") as e:
        decode_image(tmp_path / "pages.tif", in_chans=3)
    assert e.value.reason == "unsupported format"


def test_8bit_images_take_the_unchanged_path(tmp_path):
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    for name in ("a.png", "a.tif", "a.jpg"):
        rgb.save(tmp_path / name)
        with Image.open(tmp_path / name) as img:
            expected = to_array(img)
        out = decode_image(tmp_path / name)
        assert out.dtype == np.uint8 and np.array_equal(out, expected)
    # an 8-bit multi-page TIFF: first page for 1 or 3 channels (as before), pages as channels
    # when the run reads another count
    red, blue = Image.new("L", (4, 4), 200), Image.new("L", (4, 4), 30)
    red.save(tmp_path / "two.tif", save_all=True, append_images=[blue])
    assert (
        decode_image(tmp_path / "two.tif").tolist()
        == decode_image(np.full((4, 4), 200, np.uint8)).tolist()
    )
    two = decode_image(tmp_path / "two.tif", in_chans=2)
    assert two.dtype == np.uint8 and two[0, 0].tolist() == [200, 30]


def test_intensity_percentile_maps_12_bit_data_like_its_8_bit_equivalent(tmp_path):
    paths = []
    for k in range(6):
        img = _twelve_bit(k)
        img[0, 0], img[0, 1] = 0, 4095  # full 12-bit range in every image
        tifffile.imwrite(tmp_path / f"{k}.tif", img)
        paths.append(str(tmp_path / f"{k}.tif"))
    found = fit_intensity(paths, "auto", in_chans=1, max_pixels=10**6, seed=0)
    assert found.mode == "percentile" and found.images == 6
    values = np.concatenate([decode_image(p, in_chans=1).ravel() for p in paths])
    assert found.low[0] <= np.percentile(values, 0.5) + 60  # a sample of the pixels
    assert 3500 <= found.high[0] <= 4095
    # the mapping keeps the contrast: the same tensor as the image's 8-bit PNG equivalent
    pre = Preprocess(img_size=24, intensity=Intensity("minmax", (0.0,), (4095.0,)))
    tf = transforms_for("none", pre, train=False)
    img = decode_image(paths[0], in_chans=1)
    eight = np.rint(img / 4095.0 * 255.0).astype(np.uint8)
    plain = transforms_for("none", Preprocess(img_size=24), train=False)
    a = tf(image=img)["image"]
    b = plain(image=eight)["image"]
    assert torch.allclose(a, b, atol=1.0 / 255 / 0.5 + 1e-6)
    assert float(a.max() - a.min()) > 1.9  # the full -1..1 range, not a squeezed sliver


def test_intensity_modes_and_model_json_round_trip(tmp_path):
    arr = np.arange(100, dtype=np.uint16).reshape(10, 10) * 10  # 0..990
    tifffile.imwrite(tmp_path / "x.tif", arr)
    paths = [str(tmp_path / "x.tif")]
    minmax = fit_intensity(paths, "minmax", in_chans=1, max_pixels=10**6)
    assert (minmax.low, minmax.high) == ((0.0,), (990.0,))
    ms = fit_intensity(paths, "meanstd", in_chans=1, max_pixels=10**6)
    mean, std = arr.mean(), arr.std()
    assert ms.low[0] == pytest.approx(mean - 2 * std) and ms.high[0] == pytest.approx(
        mean + 2 * std
    )
    assert fit_intensity(paths, "none", in_chans=1, max_pixels=10**6).high == (255.0,)
    # 8-bit data: auto maps nothing (the run's pipeline is the 8-bit one)
    Image.new("RGB", (4, 4), (1, 2, 3)).save(tmp_path / "rgb.png")
    assert fit_intensity([str(tmp_path / "rgb.png")], "auto", in_chans=3, max_pixels=10**6) is None
    pre = Preprocess(img_size=16, intensity=minmax)
    meta = pre.meta()
    assert meta["intensity"] == {"mode": "minmax", "low": [0.0], "high": [990.0], "images": 1}
    assert Preprocess.from_meta(meta) == pre
    assert "intensity" not in Preprocess(img_size=16).meta()  # 8-bit bundles as before


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_cache_keeps_float_values(tmp_path, mode):
    paths = []
    (tmp_path / "img").mkdir()
    for k in range(3):
        tifffile.imwrite(tmp_path / "img" / f"{k}.tif", _twelve_bit(k, size=16))
        paths.append(str(tmp_path / "img" / f"{k}.tif"))
    cache = DecodedCache.build(
        paths, size=16, in_chans=1, mode=mode, cache_dir=tmp_path / "c", dtype="float32"
    )
    for k, p in enumerate(paths):
        assert cache[k].dtype == np.float32
        assert np.array_equal(cache[k], decode_image(p, in_chans=1))  # 16 px: no resampling
    assert "float32" in cache.describe()
    if mode == "disk":  # reopened: the rows are reused, with their type
        again = DecodedCache.build(
            paths, size=16, in_chans=1, mode=mode, cache_dir=tmp_path / "c", dtype="float32"
        )
        assert again.decoded == 0 and np.array_equal(again[2], cache[2])
    # an 8-bit cache refuses values it would wrap, with a reason
    eight = DecodedCache.build(paths, size=16, in_chans=1, mode="memory")
    assert set(eight.refused) == {0, 1, 2}


@pytest.mark.parametrize("in_chans", [2, 5])
def test_pretrained_first_conv_is_adapted_to_n_channels(tmp_path, in_chans):
    import timm
    from safetensors.torch import save_file

    from visionfit.models.factory import create_classifier

    torch.manual_seed(0)
    source = timm.create_model("test_resnet", pretrained=False, num_classes=0)
    state = source.state_dict()
    save_file(state, tmp_path / "w.safetensors")
    created = create_classifier(
        "test_resnet", 2, in_chans=in_chans, weights=tmp_path / "w.safetensors"
    )
    key = next(k for k, v in state.items() if v.ndim == 4)
    conv = created.model.state_dict()[key]
    assert conv.shape[1] == in_chans
    # timm's adapt_input_conv: the RGB kernels repeated, cut to in_chans, scaled by 3 / in_chans
    expected = state[key].repeat(1, 2, 1, 1)[:, :in_chans] * 3 / in_chans
    assert torch.allclose(conv, expected, atol=1e-6)
    assert created.model.eval()(torch.zeros(1, in_chans, 32, 32)).shape == (1, 2)
    assert len(created.preprocessing.mean) == in_chans


def test_scan_reports_bit_depth(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", _twelve_bit())
    info = scan_file(str(tmp_path / "a.tif"), max_pixels=10**6)
    assert info.ok and (info.dtype, info.channels, info.bits) == ("uint16", 1, 12)
    assert depth_label(info.dtype, info.bits) == "16-bit (values in the low 12 bits)"
    Image.new("RGB", (4, 4)).save(tmp_path / "b.png")
    info = scan_file(str(tmp_path / "b.png"), max_pixels=10**6)
    assert (info.dtype, info.channels, depth_label(info.dtype, info.bits)) == ("uint8", 3, "8-bit")
    assert depth_label("float32", 0) == "32-bit float"


def test_embedded_uint8_preprocessing_is_refused_for_a_value_mapping():
    from visionfit.errors import ExportError
    from visionfit.inference.embed import embed_into

    pre = Preprocess(img_size=16, intensity=Intensity("minmax", (0.0,), (4095.0,)))
    with pytest.raises(ExportError, match="--embed-preprocessing takes 8-bit images"):
        embed_into("never-written.onnx", pre, {"in_chans": 1}, "input")


def test_display_of_values_and_n_channels():
    from visionfit.plots.figure import to_rgb

    values = np.array([[[0.0], [2048.0], [4095.0]]], dtype=np.float32)
    assert to_rgb(values)[0, :, 0].tolist() == [0, 128, 255]
    five = np.zeros((2, 2, 5), np.uint8)
    assert to_rgb(five).shape == (2, 2, 3)
    rgb = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert np.array_equal(to_rgb(rgb), rgb)  # 8-bit RGB untouched
