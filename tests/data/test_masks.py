"""Mask decoding, value conventions, colour maps, image/mask pairing and the samples table."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from visionfit.config import DataConfig
from visionfit.data.mask_values import detect_mask_spec
from visionfit.data.masks import (
    MaskSpec,
    decode_mask,
    mask_to_classes,
    pair_images_masks,
    parse_colour_map,
    read_mask,
)
from visionfit.data.synthetic import make_segmentation_dataset
from visionfit.errors import DataError
from visionfit.tasks.segmentation.check import check_segmentation
from visionfit.tasks.segmentation.config import SegmentConfig
from visionfit.tasks.segmentation.sources import load_seg_samples


def _img(path, size=(8, 6), value=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value, value)).save(path)
    return path


def _mask(path, arr, mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(arr, np.uint8), mode).save(path)
    return path


def test_decode_keeps_exact_values(tmp_path):
    arr = np.array([[0, 1, 2], [3, 254, 255]], np.uint8)
    np.testing.assert_array_equal(decode_mask(_mask(tmp_path / "m.png", arr)), arr)
    # a palette mask gives its indices, not the palette colours
    p = Image.fromarray(arr[:, :2].copy(), "L").convert("P")
    p.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [9] * 756)
    idx = np.array([[0, 1], [3, 2]], np.uint8)
    p = Image.fromarray(idx, "P")
    p.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [9] * 756)
    p.save(tmp_path / "p.png")
    np.testing.assert_array_equal(decode_mask(tmp_path / "p.png"), idx)
    # a 16-bit mask is not range-scaled
    Image.fromarray(np.array([[0, 3], [7, 1]], np.uint16)).save(tmp_path / "i16.png")
    assert decode_mask(tmp_path / "i16.png").tolist() == [[0, 3], [7, 1]]
    # a grayscale mask saved as RGB reads as grayscale
    rgb = np.repeat(arr[:, :, None], 3, axis=2)
    Image.fromarray(rgb, "RGB").save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(decode_mask(tmp_path / "rgb.png"), arr)


def test_binary_conventions_detected():
    assert detect_mask_spec([{0, 255}, {0}]) == MaskSpec(2, "nonzero")
    assert detect_mask_spec([{0, 1}, {0}]) == MaskSpec(2, "nonzero")
    spec = detect_mask_spec([{0, 1, 2, 250, 255}, {0, 3, 128}])  # JPEG-ish masks
    assert spec.binary_rule == "ge128" and ">= 128 = foreground" in spec.decisions[0]
    m255 = np.array([[0, 255]], np.uint8)
    m01 = np.array([[0, 1]], np.uint8)
    for raw in (m255, m01):
        assert mask_to_classes(raw, MaskSpec(2)).tolist() == [[0, 1]]
    # small indices are class indices (said so), not a question any more
    assert detect_mask_spec([{0, 1, 2, 3}]).num_classes == 4


def test_class_index_masks_and_bad_values(tmp_path):
    spec = detect_mask_spec([{0, 1, 2}], num_classes=3)
    assert spec == MaskSpec(3)
    bad = _mask(tmp_path / "bad.png", [[0, 1], [2, 7]])
    with pytest.raises(DataError, match=r"bad\.png has values 7 outside the classes 0\.\.2"):
        read_mask(bad, spec)
    with pytest.raises(DataError, match="values 7"):
        detect_mask_spec([{0, 7}], num_classes=3)
    _img(tmp_path / "d" / "images" / "bad.png", size=(2, 2))
    _mask(tmp_path / "d" / "masks" / "bad.png", [[0, 1], [2, 7]])
    with pytest.raises(DataError, match=r"1 masks hold values outside.*masks/bad\.png has 7"):
        load_seg_samples(DataConfig(path=str(tmp_path / "d")), SegmentConfig(num_classes=3))


def test_colour_map(tmp_path):
    cmap = parse_colour_map("0,0,0=0; 255,0,0=1; #00ff00=2")
    assert cmap == {"#000000": 0, "#ff0000": 1, "#00ff00": 2}
    js = tmp_path / "c.json"
    js.write_text("[[0,0,0],[255,0,0],[0,255,0]]")
    assert parse_colour_map(str(js)) == cmap
    spec = detect_mask_spec([], colour_map=cmap)
    assert spec.num_classes == 3
    arr = np.zeros((2, 2, 3), np.uint8)
    arr[0, 1] = (255, 0, 0)
    arr[1, 1] = (0, 255, 0)
    Image.fromarray(arr, "RGB").save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png", spec).tolist() == [[0, 1], [0, 2]]
    arr[1, 0] = (1, 2, 3)
    Image.fromarray(arr, "RGB").save(tmp_path / "m2.png")
    with pytest.raises(DataError, match=r"m2\.png has colours not in the colour map: \(1,2,3\)"):
        read_mask(tmp_path / "m2.png", spec)
    with pytest.raises(DataError, match="COLOUR=CLASS"):
        parse_colour_map("0,0,0")


def test_pairing_by_stem_and_suffix(tmp_path):
    for s in ("a", "b"):
        _img(tmp_path / "images" / f"{s}.jpg")
        _mask(tmp_path / "masks" / f"{s}_mask.png", np.zeros((6, 8)))
    pairs = pair_images_masks(tmp_path / "images", tmp_path / "masks", mask_suffix="_mask")
    assert [(i.name, m.name) for i, m in pairs] == [
        ("a.jpg", "a_mask.png"),
        ("b.jpg", "b_mask.png"),
    ]
    # without the suffix: the error names the files and suggests the option
    with pytest.raises(DataError) as e:
        pair_images_masks(tmp_path / "images", tmp_path / "masks")
    msg = str(e.value)
    assert "2 images have no mask" in msg and "a.jpg" in msg and "a_mask.png" in msg
    assert "--mask-suffix _mask" in msg


def test_pairing_errors_name_the_files(tmp_path):
    for s in ("a", "b", "c"):
        _img(tmp_path / "images" / f"{s}.png")
    _mask(tmp_path / "masks" / "a.png", np.zeros((6, 8)))
    _mask(tmp_path / "masks" / "b.png", np.zeros((6, 8)))
    _mask(tmp_path / "masks" / "z.png", np.zeros((6, 8)))
    with pytest.raises(DataError) as e:
        pair_images_masks(tmp_path / "images", tmp_path / "masks")
    msg = str(e.value)
    assert f"1 images have no mask in {tmp_path / 'masks'}" in msg
    assert str(tmp_path / "images" / "c.png") in msg
    assert "1 masks have no image" in msg and str(tmp_path / "masks" / "z.png") in msg
    # two images with one stem
    _img(tmp_path / "images" / "a.jpg")
    with pytest.raises(DataError, match=r"share the name 'a'.*a\.(jpg|png) and .*a\.(jpg|png)"):
        pair_images_masks(tmp_path / "images", tmp_path / "masks")


def test_samples_from_folders_with_split_and_size_mismatch(tmp_path):
    for split in ("train", "val"):
        for i in range(2):
            _img(tmp_path / split / "images" / f"{split}{i}.png")
            m = np.zeros((6, 8))
            m[1, 1] = 255 * i
            _mask(tmp_path / split / "masks" / f"{split}{i}.png", m)
    s = load_seg_samples(DataConfig(path=str(tmp_path)), SegmentConfig())
    assert s.layout == "split-folders" and s.classes == ["background", "foreground"]
    assert sorted(s.df["split"]) == ["train", "train", "val", "val"]
    assert s.df["empty_mask"].tolist().count(True) == 2
    _mask(tmp_path / "val" / "masks" / "val1.png", np.zeros((5, 8)))
    with pytest.raises(
        DataError,
        match=r"1 masks differ in size.*image \S*images/val1\.png is 8x6 but its mask "
        r"\S*masks/val1\.png is 8x5",
    ):
        load_seg_samples(DataConfig(path=str(tmp_path)), SegmentConfig())
    report = check_segmentation(DataConfig(path=str(tmp_path)), SegmentConfig())
    assert len(report.size_mismatches) == 1 and not report.ok


def test_check_reports_values_and_empty_share(tmp_path):
    make_segmentation_dataset(tmp_path, 10, size=16, seed=3, empty_prob=0.5)
    _mask(tmp_path / "masks" / "img_0000.png", np.full((16, 16), 7))
    report = check_segmentation(DataConfig(path=str(tmp_path)), SegmentConfig(num_classes=2))
    # 0, 7 and 255 in the masks: pixels >= 128 are foreground, so the mask of 7s is empty; train
    # reads it so, and check (the same MaskSpec.unexpected_values) does not call 7 unexpected
    assert report.unexpected_values == []
    load_seg_samples(DataConfig(path=str(tmp_path)), SegmentConfig(num_classes=2))
    assert report.mask_rule == "mask values {0, 7, 255}: binary, >= 128 = foreground"
    n_empty = sum(
        not (np.asarray(Image.open(p)) >= 128).any()
        for p in sorted((tmp_path / "masks").glob("*.png"))
    )
    assert report.empty_masks == n_empty and report.n_images == 10
    assert report.empty_share == pytest.approx(n_empty / 10)


def test_samples_from_rle_csv(tmp_path):
    csv = make_segmentation_dataset(
        tmp_path, 6, size=16, layout="rle", rle_format="siim", empty_prob=0.5, seed=2
    )
    # a second row for the first image, and the empty ones as -1
    text = csv.read_text().splitlines()
    text.append("img_0000,1 2")
    csv.write_text("\n".join(text) + "\n")
    s = load_seg_samples(DataConfig(path=str(csv)), SegmentConfig(rle_format="siim"))
    assert s.layout == "rle-csv" and len(s.df) == 6
    assert s.rle.fmt == "siim" and s.rle.id_with_ext is False
    assert len(s.df.loc[s.df["id"] == "img_0000", "rle"].iloc[0]) == 2
    assert any("several RLE rows" in n for n in s.notes)
    # ids that are not there, a missing column, runs past the end
    with pytest.raises(
        DataError, match="column 'Mask' not in train.csv; columns are: ImageId, EncodedPixels"
    ):
        load_seg_samples(DataConfig(path=str(csv)), SegmentConfig(rle_col="Mask"))
    with pytest.raises(DataError, match="--ignore-index and --mask-values read mask files"):
        load_seg_samples(DataConfig(path=str(csv), ignore_index=255), SegmentConfig())
    assert s.spec.decisions == ("RLE masks: binary, pixels in a run = foreground",)
    csv.write_text(csv.read_text() + "nope,1 2\n")
    with pytest.raises(DataError, match="1 of 7 ids in train.csv have no image.*nope"):
        load_seg_samples(DataConfig(path=str(csv)), SegmentConfig(rle_format="siim"))
    csv.write_text("ImageId,EncodedPixels\nimg_0001,250 10\n")
    with pytest.raises(DataError, match=r"line 2 \(img_0001\): RLE runs past the last pixel"):
        load_seg_samples(DataConfig(path=str(csv)), SegmentConfig())


def _jpeg_masks(root):
    """The dataset's PNG masks saved again as JPEG (lossy: values near 0 and 255)."""
    for png in sorted((root / "masks").glob("*.png")):
        Image.open(png).convert("L").save(png.with_suffix(".jpg"), quality=60)
        png.unlink()


def test_jpeg_masks_check_and_train_agree(tmp_path):
    """Binary JPEG masks are accepted by both (pixels >= 128 are foreground, with a note);
    class-index masks must keep exact ids, so both refuse a value outside 0..K-1."""
    from visionfit.tasks.segmentation.check import check_input

    make_segmentation_dataset(tmp_path, 8, size=32, seed=5)
    _jpeg_masks(tmp_path)
    data, seg = DataConfig(path=str(tmp_path)), SegmentConfig()
    samples = load_seg_samples(data, seg)  # train's strict reading
    assert samples.spec.binary_rule == "ge128"
    _, section, problems = check_input(data, seg)
    assert problems == [] and section["unexpected_values"] == []
    assert MaskSpec(3).unexpected_values([0, 1, 2, 3, 254]) == [3, 254]
    assert MaskSpec(2, "ge128").unexpected_values([0, 3, 250]) == []
    bad = tmp_path / "masks" / "img_0000.jpg"
    Image.fromarray(np.full((32, 32), 5, np.uint8), "L").save(bad)
    seg3 = SegmentConfig(num_classes=3)
    with pytest.raises(DataError, match="outside the classes 0..2"):
        load_seg_samples(data, seg3)
    _, section, problems = check_input(data, seg3)
    assert problems and str(bad.resolve()) in [m for m, _ in section["unexpected_values"]]
