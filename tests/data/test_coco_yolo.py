"""COCO instances JSON and YOLO segmentation labels: reading, painting (pycocotools), the overlap
rule, what is reported, and masks written back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from visionfit.data.coco import read_coco, results_for_mask
from visionfit.data.shapes import mask_polygons, paint_shapes, polygon_problem
from visionfit.data.yolo import find_data_yaml, label_path, read_labels, read_yolo, yolo_lines
from visionfit.errors import DataError

SQUARE = [2.0, 2.0, 8.0, 2.0, 8.0, 8.0, 2.0, 8.0]  # pixels 2..7: 6 x 6


def _coco(tmp_path, annotations, images=None, categories=None):
    doc = {
        "images": images or [{"id": 7, "file_name": "a.png", "height": 10, "width": 12}],
        "annotations": annotations,
        "categories": categories or [{"id": 5, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    return path


def test_categories_map_to_indices_in_id_order(tmp_path):
    ann = [{"id": 1, "image_id": 7, "category_id": 5, "segmentation": [SQUARE], "iscrowd": 0}]
    coco = read_coco(_coco(tmp_path, ann))
    assert coco.category_ids == [2, 5] and coco.names == ["dog", "cat"]
    (im,) = coco.images
    mask = paint_shapes(im.shapes, (10, 12))
    assert mask.shape == (10, 12) and set(np.unique(mask)) == {0, 2}  # cat (id 5) -> class 2
    assert int((mask == 2).sum()) == 36


def test_polygon_rle_round_trip_through_pycocotools(tmp_path):
    """Compressed and uncompressed RLE decode to the mask they were made from."""
    truth = np.zeros((10, 12), np.uint8)
    truth[1:6, 3:9] = 1
    enc = coco_mask.encode(np.asfortranarray(truth))
    compressed = {"size": [10, 12], "counts": enc["counts"].decode()}
    flat = truth.reshape(-1, order="F")
    runs, value, n = [], 0, 0
    for v in flat:
        if v != value:
            runs.append(n)
            value, n = v, 0
        n += 1
    runs.append(n)
    uncompressed = {"size": [10, 12], "counts": runs}
    for seg in (compressed, uncompressed):
        ann = [{"id": 1, "image_id": 7, "category_id": 2, "segmentation": seg, "iscrowd": 1}]
        (im,) = read_coco(_coco(tmp_path, ann)).images
        assert np.array_equal(paint_shapes(im.shapes, (10, 12)), truth)
    # and a predicted mask written back as COCO results decodes to itself
    (entry,) = results_for_mask(truth * 2, "a.png", [2, 5], 0.9)
    assert entry["category_id"] == 5 and entry["image_id"] == "a.png" and entry["score"] == 0.9
    seg = dict(entry["segmentation"], counts=entry["segmentation"]["counts"].encode())
    assert np.array_equal(coco_mask.decode(seg), truth)


def test_overlap_later_annotation_wins_and_crowd_below(tmp_path):
    right = [5.0, 2.0, 11.0, 2.0, 11.0, 8.0, 5.0, 8.0]
    ann = [
        {"id": 1, "image_id": 7, "category_id": 2, "segmentation": [SQUARE], "iscrowd": 0},
        {"id": 2, "image_id": 7, "category_id": 5, "segmentation": [right], "iscrowd": 0},
    ]
    (im,) = read_coco(_coco(tmp_path, ann)).images
    mask = paint_shapes(im.shapes, (10, 12))
    assert mask[4, 6] == 2  # the overlap: the later annotation (cat, class 2) wins
    assert mask[4, 3] == 1
    # reversed file order: the dog wins the overlap
    (im,) = read_coco(_coco(tmp_path, ann[::-1])).images
    assert paint_shapes(im.shapes, (10, 12))[4, 6] == 1
    # a crowd region is painted first, whatever its place: the instance over it keeps its class
    crowd = [dict(ann[1], iscrowd=1), ann[0]]
    (im,) = read_coco(_coco(tmp_path, crowd[::-1])).images
    mask = paint_shapes(im.shapes, (10, 12))
    assert mask[4, 6] == 1 and mask[4, 10] == 2
    assert paint_shapes(im.shapes, (10, 12), crowd_value=255)[4, 10] == 255  # --ignore-index


def test_invalid_annotations_are_reported_not_raised(tmp_path):
    ann = [
        {"id": 1, "image_id": 7, "category_id": 2, "segmentation": [[1, 1, 5, 5]]},
        {"id": 2, "image_id": 7, "category_id": 99, "segmentation": [SQUARE]},
        {"id": 3, "image_id": 404, "category_id": 2, "segmentation": [SQUARE]},
        {"id": 4, "image_id": 8, "category_id": 2, "segmentation": [[0, 0, 40, 0, 40, 9]]},
        {"id": 5, "image_id": 9, "category_id": 2, "segmentation": []},
        {"id": 6, "image_id": 9, "category_id": 2, "segmentation": [SQUARE[:5]]},
    ]
    images = [{"id": i, "file_name": f"{i}.png", "height": 10, "width": 12} for i in (7, 8, 9)]
    coco = read_coco(_coco(tmp_path, ann, images))
    by_id = {im.id: im for im in coco.images}
    assert by_id[7].problems == [
        "annotation 1: invalid polygon: fewer than 3 points (2)",
        "annotation 2: unknown category id 99",
    ]
    assert "outside the image" in by_id[8].problems[0]
    assert by_id[9].problems == [
        "annotation 5: empty segmentation",
        "annotation 6: invalid polygon: odd number of coordinates (5)",
    ]
    assert coco.orphans == [("annotation 3", "unknown image id 404")]


def test_not_coco_is_one_line_error(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"images": []}')
    with pytest.raises(DataError, match="no COCO instances file"):
        read_coco(bad)
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not a readable JSON"):
        read_coco(bad)


def test_polygon_problem_bounds():
    assert polygon_problem(SQUARE, 12, 10) == ""
    assert polygon_problem([0, 0, 12.5, 0, 12.5, 10], 12, 10) == ""  # on the border: slack
    assert "outside" in polygon_problem([0, 0, 20, 0, 20, 10], 12, 10)
    assert "not a number" in polygon_problem(["a", 1, 2, 3, 4, 5], 12, 10)


def _yolo(tmp_path, lines, names="[cat, dog]"):
    for sub in ("images/train", "images/val", "labels/train", "labels/val"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        Image.new("RGB", (20, 10)).save(tmp_path / f"images/{split}/{split}0.png")
    (tmp_path / "labels/train/train0.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "data.yaml").write_text(
        f"path: .\ntrain: images/train\nval: images/val\nnames: {names}\n"
    )
    return tmp_path


def test_yolo_layout_and_parsing(tmp_path):
    root = _yolo(
        tmp_path, ["1 0.1 0.2 0.5 0.2 0.5 0.8 0.1 0.8", "0 0.4 0.2 0.9 0.2 0.9 0.8 0.4 0.8"]
    )
    assert find_data_yaml(root) == root / "data.yaml"
    yolo = read_yolo(root / "data.yaml")
    assert yolo.names == ["cat", "dog"]
    assert [(p.name, s) for p, s in yolo.images] == [("train0.png", "train"), ("val0.png", "val")]
    img = yolo.images[0][0]
    assert label_path(img) == root / "labels/train/train0.txt"
    shapes, problems = read_labels(label_path(img), 2)
    assert problems == [] and [s[0] for s in shapes] == [2, 1]  # class c -> index c + 1
    mask = paint_shapes(shapes, (10, 20))
    assert mask[5, 3] == 2 and mask[5, 15] == 1 and mask[5, 9] == 1  # the later line wins
    # val0 has no label file: an empty mask
    assert read_labels(label_path(yolo.images[1][0]), 2) == ([], [])


def test_yolo_names_as_mapping(tmp_path):
    root = _yolo(tmp_path, [], names="{0: cat, 1: dog}")
    assert read_yolo(root / "data.yaml").names == ["cat", "dog"]


def test_yolo_invalid_lines_reported(tmp_path):
    lines = [
        "0 0.1 0.1 0.5 0.1 0.5",  # odd count
        "0 0.1 0.1",  # 1 point
        "7 0.1 0.1 0.5 0.1 0.5 0.5",  # class out of range
        "0 0.5 0.5 0.2 0.2",  # a detection box
        "x 0.1 0.1 0.5 0.1 0.5 0.5",
        "0 0.1 0.1 1.5 0.1 0.5 0.5",  # outside
    ]
    root = _yolo(tmp_path, lines)
    shapes, problems = read_labels(root / "labels/train/train0.txt", 2)
    assert shapes == []
    assert [p.split(": ", 1)[1] for p in problems] == [
        "odd number of coordinates (5)",
        "fewer than 3 points (1)",
        "class 7 outside 0..1 (the names of data.yaml)",
        "4 values after the class: a detection box, not a polygon",
        "class 'x' is not an integer",
        "outside the image: x 0.1..1.5, y 0.1..0.5 (the image is 1 x 1)",
    ]
    assert problems[0].startswith("train0.txt line 1")


def test_mask_written_back_as_yolo_lines_paints_again():
    mask = np.zeros((20, 30), np.uint8)
    mask[4:16, 3:12] = 1
    mask[2:10, 18:28] = 2
    lines = yolo_lines(mask, 3)
    assert sorted(int(line.split()[0]) for line in lines) == [0, 1]
    shapes = []
    for line in lines:
        c, *xy = line.split()
        shapes.append((int(c) + 1, False, "norm", (tuple(map(float, xy)),)))
    again = paint_shapes(shapes, mask.shape)
    assert np.array_equal(again, mask)  # the same pixels (data/shapes.py: traced at 2x)
    assert len(mask_polygons(np.zeros((5, 5), np.uint8))) == 0


def test_yolo_split_as_image_list(tmp_path):
    """A split given as a .txt list: paths relative to the list's folder (as Ultralytics)."""
    root = _yolo(tmp_path, [])
    (root / "lists").mkdir()
    (root / "lists/val.txt").write_text("../images/val/val0.png\n\n")
    (root / "data.yaml").write_text("train: images/train\nval: lists/val.txt\nnames: [a]\n")
    yolo = read_yolo(root / "data.yaml")
    assert [(p.resolve(), s) for p, s in yolo.images] == [
        ((root / "images/train/train0.png").resolve(), "train"),
        ((root / "images/val/val0.png").resolve(), "val"),
    ]
