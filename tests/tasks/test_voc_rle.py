"""Pascal VOC folders and multi-class RLE CSVs: reading (palette indices, 255 = ignore, split
files, class ids, the overlap rule), what check reports, and predict's writers read back."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from visionfit.config import DataConfig
from visionfit.data.masks import IGNORE, decode_mask, voc_palette
from visionfit.data.rle import rle_decode_classes, rle_encode
from visionfit.data.synthetic_voc import make_multiclass_rle_dataset
from visionfit.errors import DataError
from visionfit.tasks.segmentation.check import check_segmentation
from visionfit.tasks.segmentation.config import SegmentConfig
from visionfit.tasks.segmentation.formats_out import rle_table, write_voc_pngs
from visionfit.tasks.segmentation.pairs import RleInfo
from visionfit.tasks.segmentation.sources import load_seg_samples
from visionfit.tasks.segmentation.targets import load_target
from visionfit.tasks.segmentation.voc import VOC_CLASSES


def _palette_png(path, arr):
    img = Image.fromarray(np.asarray(arr, np.uint8), "P")
    img.putpalette(voc_palette())
    img.save(path)


def _voc(root, masks: dict, sets: dict | None = None):
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    for stem, arr in masks.items():
        Image.new("RGB", arr.shape[::-1], (90, 90, 90)).save(root / "JPEGImages" / f"{stem}.jpg")
        _palette_png(root / "SegmentationClass" / f"{stem}.png", arr)
    if sets:
        d = root / "ImageSets" / "Segmentation"
        d.mkdir(parents=True)
        for name, ids in sets.items():
            (d / name).write_text("".join(f"{i}\n" for i in ids))
    return root


def test_palette_png_gives_indices_not_colours(tmp_path):
    arr = np.array([[0, 1, 255], [20, 2, 0]], np.uint8)
    _palette_png(tmp_path / "m.png", arr)
    got = decode_mask(tmp_path / "m.png")
    assert got.ndim == 2 and np.array_equal(got, arr)
    assert voc_palette()[3:6] == [128, 0, 0] and voc_palette()[255 * 3 :] == [224, 224, 192]


def test_voc_folder_reads_255_as_ignore_and_split_files(tmp_path):
    m = np.zeros((4, 5), np.uint8)
    m[1, 1], m[2, 2], m[0, 0] = 1, 2, 255
    root = _voc(
        tmp_path / "VOCdevkit" / "VOC2012",
        {"a": m, "b": m, "c": m, "d": m},
        {"train.txt": ["a", "b"], "val.txt": ["c"], "trainval.txt": ["a", "b", "c"]},
    )
    s = load_seg_samples(DataConfig(path=str(tmp_path / "VOCdevkit")), SegmentConfig())
    assert s.layout == "voc"
    assert dict(zip(s.df["id"], s.df["split"], strict=True)) == {
        "a": "train",
        "b": "train",
        "c": "val",
    }
    assert s.spec.num_classes == 3 and s.spec.ignore_value == 255
    assert s.classes == ["background", "class_1", "class_2"]
    assert any("in no split file" in n for n in s.notes)  # d is left out
    t = load_target(s.df.iloc[0], s.spec, None, (4, 5))
    assert t[0, 0] == IGNORE and t[1, 1] == 1 and t[2, 2] == 2
    # trainval.txt alone: its ids, split left to --val-fraction
    (root / "ImageSets" / "Segmentation" / "train.txt").unlink()
    (root / "ImageSets" / "Segmentation" / "val.txt").unlink()
    s = load_seg_samples(DataConfig(path=str(root), format="voc"), SegmentConfig())
    assert sorted(s.df["id"]) == ["a", "b", "c"] and set(s.df["split"]) == {""}


def test_voc_21_classes_are_named_and_format_voc_refuses_other_folders(tmp_path):
    m = np.zeros((4, 4), np.uint8)
    m[0, 0] = 20
    _voc(tmp_path / "v", {"x": m, "y": m})
    s = load_seg_samples(DataConfig(path=str(tmp_path / "v")), SegmentConfig())
    assert s.classes == list(VOC_CLASSES)
    (tmp_path / "other").mkdir()
    with pytest.raises(DataError, match="not a Pascal VOC folder"):
        load_seg_samples(DataConfig(path=str(tmp_path / "other"), format="voc"), SegmentConfig())
    _voc(tmp_path / "kit" / "VOC2007", {"x": m})
    _voc(tmp_path / "kit" / "VOC2012", {"x": m})
    with pytest.raises(DataError, match="holds 2 Pascal VOC folders"):
        load_seg_samples(DataConfig(path=str(tmp_path / "kit")), SegmentConfig())
    with pytest.raises(DataError, match="not a segmentation format"):
        load_seg_samples(DataConfig(path=str(tmp_path / "v"), format="nope"), SegmentConfig())


def test_overlapping_classes_the_higher_wins_whatever_the_order():
    a = np.zeros((3, 3), np.uint8)
    a[:2, :2] = 1
    b = np.zeros((3, 3), np.uint8)
    b[1:, 1:] = 1
    ra, rb = rle_encode(a), rle_encode(b)
    for rows, classes in (([ra, rb], [1, 3]), ([rb, ra], [3, 1])):
        got = rle_decode_classes(rows, classes, (3, 3))
        assert got[1, 1] == 3 and got[0, 0] == 1 and got[2, 2] == 3 and got[0, 2] == 0


def _csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_multiclass_rle_csv_and_combined_ids(tmp_path):
    path = make_multiclass_rle_dataset(tmp_path / "sev", 6, size=16, seed=3)
    s = load_seg_samples(DataConfig(path=str(path)), SegmentConfig())
    assert s.spec.num_classes == 3 and s.rle.class_col == "ClassId" and s.rle.id_with_ext
    raw = pd.read_csv(path, keep_default_na=False)
    row = s.df.iloc[0]
    t = load_target(row, s.spec, s.rle, (16, 16))
    for _, r in raw[raw["ImageId"] == row["id"]].iterrows():
        assert (
            t[rle_decode_classes([r["EncodedPixels"]], [1], (16, 16)) > 0] >= r["ClassId"]
        ).all()
    # Severstal's older layout: ImageId_ClassId in one column; --num-classes widens K
    comb = _csv(
        tmp_path / "sev" / "comb.csv",
        ["ImageId_ClassId", "EncodedPixels"],
        [(f"{a}_{b}", c) for a, b, c in raw.itertuples(index=False)],
    )
    s2 = load_seg_samples(
        DataConfig(path=str(comb)), SegmentConfig(id_col="ImageId_ClassId", num_classes=5)
    )
    assert s2.spec.num_classes == 5 and list(s2.df["rle_class"]) == list(s.df["rle_class"])
    # --class-col names another column
    other = _csv(tmp_path / "sev" / "o.csv", ["ImageId", "defect", "EncodedPixels"], raw.values)
    s3 = load_seg_samples(DataConfig(path=str(other)), SegmentConfig(class_col="defect"))
    assert s3.spec.num_classes == 3 and s3.rle.class_col == "defect"


def test_check_lists_bad_class_ids_duplicates_and_misfits(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "b.png")
    path = _csv(
        tmp_path / "t.csv",
        ["ImageId", "ClassId", "EncodedPixels"],
        [
            ("a", "1", "1 2"),
            ("a", "x", "3 1"),
            ("a", "9", "3 1"),
            ("b", "2", "1 3"),
            ("b", "2", "5 1"),
            ("b", "1", "10 20"),
        ],
    )
    seg = SegmentConfig(num_classes=3)
    report = check_segmentation(DataConfig(path=str(path)), seg)
    text = "\n".join(report.rle_problems)
    assert "class id 'x' is not an integer" in text
    assert "class id 9 is out of range (1..2" in text
    assert "lines 5 and 6: two rows of b with ClassId 2" in text
    assert "line 7 (b): RLE runs past the last pixel" in text
    assert not report.ok
    with pytest.raises(DataError, match="line 3 .*not an integer .*and 3 more"):
        load_seg_samples(DataConfig(path=str(path)), seg)


def test_predicted_rle_reads_back_as_the_same_masks(tmp_path):
    rng = np.random.default_rng(0)
    masks = [rng.integers(0, 4, (5, 7)).astype(np.uint8), np.zeros((5, 7), np.uint8)]
    for i in range(len(masks)):
        Image.fromarray(np.zeros((5, 7, 3), np.uint8)).save(tmp_path / f"im{i}.png")
    for fmt, order, empty in (("kaggle", "F", ""), ("siim", "C", "-1")):
        info = RleInfo(fmt=fmt, order=order, empty=empty, class_col="ClassId")
        rles = [
            [rle_encode(m == c, fmt=fmt, order=order, empty=empty) for c in (1, 2, 3)]
            for m in masks
        ]
        table = rle_table(["im0", "im1", "im2"], rles + [[empty] * 3], ["", "", "unreadable"], info)
        assert list(table.columns) == ["ImageId", "ClassId", "EncodedPixels"]
        assert list(table["ClassId"]) == [1, 2, 3, 0]  # im1: one empty row; im2 left out
        out = tmp_path / f"pred-{fmt}.csv"
        table.to_csv(out, index=False)
        seg = SegmentConfig(rle_format=fmt, rle_order=order, num_classes=4)
        s = load_seg_samples(DataConfig(path=str(out)), seg)
        for row in s.df.itertuples():
            got = load_target(row._asdict(), s.spec, s.rle, (5, 7))
            assert np.array_equal(got, masks[int(row.id[-1])])
    (tmp_path / "voc").mkdir()
    write_voc_pngs(tmp_path / "voc", ["im0", "im1", "bad"], [masks[0], masks[1], None])
    assert sorted(p.name for p in (tmp_path / "voc").iterdir()) == ["im0.png", "im1.png"]
    back = Image.open(tmp_path / "voc" / "im0.png")
    assert back.mode == "P" and np.array_equal(np.asarray(back), masks[0])


def test_truth_csv_scores_a_multiclass_run(tmp_path):
    from types import SimpleNamespace

    from visionfit.tasks.segmentation.scoring import truth_reader

    m = np.zeros((4, 6), np.uint8)
    m[1:3, 1:3], m[0, 5] = 2, 1
    rows = [("a.png", c, rle_encode(m == c)) for c in (1, 2)] + [("b.png", 0, "")]
    path = _csv(tmp_path / "t.csv", ["ImageId", "ClassId", "EncodedPixels"], rows)
    head = SimpleNamespace(rle=RleInfo(class_col="ClassId"), num_classes=3)
    read = truth_reader(path, head)
    assert np.array_equal(read("a", (4, 6)), m) and not read("b", (4, 6)).any()
    assert read("c", (4, 6)) is None
    with pytest.raises(DataError, match="class column"):
        truth_reader(path, SimpleNamespace(rle=RleInfo(), num_classes=3))
