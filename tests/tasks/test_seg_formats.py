"""COCO / YOLO data into the segmentation samples table: the detection rule, the splits, what is
left out, and the masks painted when a sample is loaded (tasks/segmentation/formats.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from visionfit.config import DataConfig
from visionfit.errors import DataError
from visionfit.tasks.segmentation.config import SegmentConfig
from visionfit.tasks.segmentation.formats import source_format
from visionfit.tasks.segmentation.sources import load_seg_samples
from visionfit.tasks.segmentation.targets import MaskTargets

SQUARE = [2.0, 2.0, 8.0, 2.0, 8.0, 8.0, 2.0, 8.0]


def _coco_doc(names, anns):
    images = [{"id": i, "file_name": n, "height": 10, "width": 12} for i, n in enumerate(names)]
    cats = [{"id": 4, "name": "cat"}]
    return {"images": images, "annotations": anns, "categories": cats}


@pytest.fixture
def coco_dir(tmp_path):
    (tmp_path / "images").mkdir()
    for n in ("a", "b", "c"):
        Image.new("RGB", (12, 10)).save(tmp_path / "images" / f"{n}.png")
    (tmp_path / "annotations").mkdir()
    ann = [{"id": 1, "image_id": 0, "category_id": 4, "segmentation": [SQUARE], "iscrowd": 0}]
    train = _coco_doc(["images/a.png", "b.png", "images/gone.png"], ann)
    (tmp_path / "annotations/instances_train.json").write_text(json.dumps(train))
    (tmp_path / "annotations/instances_val.json").write_text(json.dumps(_coco_doc(["c.png"], [])))
    return tmp_path


def test_detection_rule(coco_dir, tmp_path):
    assert source_format(DataConfig(path=str(coco_dir))) == "coco"  # annotations/instances_*
    single = coco_dir / "annotations/instances_val.json"
    assert source_format(DataConfig(path=str(single))) == "coco"
    other = tmp_path / "other.json"
    other.write_text('{"images": []}')
    assert source_format(DataConfig(path=str(other))) is None  # not COCO: other layouts
    with pytest.raises(DataError, match="--format coco: .* is no COCO instances JSON"):
        source_format(DataConfig(path=str(other), format="coco"))
    with pytest.raises(DataError, match="--format yolo"):
        source_format(DataConfig(path=str(coco_dir), format="yolo"))
    (tmp_path / "y").mkdir()
    (tmp_path / "y/data.yaml").write_text("train: images/train\nnames: [a]\n")
    assert source_format(DataConfig(path=str(tmp_path / "y"))) == "yolo"
    assert source_format(DataConfig(path=str(tmp_path / "y/data.yaml"))) == "yolo"


def test_coco_folder_samples(coco_dir):
    samples = load_seg_samples(DataConfig(path=str(coco_dir)), SegmentConfig())
    df = samples.df
    assert samples.layout == "coco" and samples.classes == ["background", "cat"]
    assert samples.spec.num_classes == 2
    names = [p.rsplit("/", 1)[1] for p in df["image"]]
    assert list(zip(names, df["split"], strict=True)) == [
        ("a.png", "train"),  # images/a.png under DATA
        ("b.png", "train"),  # found by file name below DATA
        ("c.png", "val"),  # from instances_val.json
    ]
    assert [p.endswith("gone.png") for p, _ in samples.skipped] == [True]
    assert list(df["empty_mask"]) == [False, True, True]  # b and c have no annotation
    targets = MaskTargets(samples.df, samples.spec, samples.rle)
    mask = targets(0, (10, 12))
    assert mask.dtype == np.uint8 and int(mask.sum()) == 36
    assert int(targets(1, (10, 12)).sum()) == 0
    assert samples.source["category_ids"] == [4]


def test_coco_crowd_ignored_with_ignore_index(coco_dir):
    doc = json.loads((coco_dir / "annotations/instances_val.json").read_text())
    doc["annotations"] = [
        {"id": 1, "image_id": 0, "category_id": 4, "segmentation": [SQUARE], "iscrowd": 1}
    ]
    path = coco_dir / "crowd.json"
    path.write_text(json.dumps(doc))
    data = DataConfig(path=str(path), root=str(coco_dir / "images"), ignore_index=255)
    samples = load_seg_samples(data, SegmentConfig())
    assert "ignored (--ignore-index)" in samples.spec.decisions[0]
    mask = MaskTargets(samples.df, samples.spec, samples.rle)(0, (10, 12))
    assert set(np.unique(mask)) == {0, 255} and samples.spec.class_ignore == 255


def test_num_classes_must_agree(coco_dir):
    with pytest.raises(DataError, match="--num-classes 5, but .* names 1 classes"):
        load_seg_samples(DataConfig(path=str(coco_dir)), SegmentConfig(num_classes=5))
    # a run's own config (num_classes = K + 1) reads the data again (evaluate, resume)
    load_seg_samples(DataConfig(path=str(coco_dir)), SegmentConfig(num_classes=2))
