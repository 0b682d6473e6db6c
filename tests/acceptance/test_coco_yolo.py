"""docs/formats/coco-yolo.md: every shell example as a subprocess, on the shared generated
segmentation set (DATA/images + DATA/masks, 20 images of 32 px) written again as a COCO
instances JSON and as YOLO polygon labels. The COCO run must score as the mask-folder run on
the same images does (same masks, same seed, same split)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as coco_mask

from visionfit.data.synthetic_formats import write_coco, write_yolo


@pytest.fixture(scope="module")
def formats(ws, seg_data):
    """coco/instances.json (category id 3 "shape", images under --root DATA) and yolo/ (the
    Ultralytics layout, every 5th image in val)."""
    where = ws / "coco-yolo"
    (where / "coco").mkdir(parents=True, exist_ok=True)
    path = write_coco(seg_data, where / "coco" / "instances.json", names=["shape"])
    doc = json.loads(path.read_text())
    doc["categories"][0]["id"] = 3
    for ann in doc["annotations"]:
        ann["category_id"] = 3
    path.write_text(json.dumps(doc))
    # a broken copy: an image missing on disk, a 2-point polygon, an unknown category and image
    doc["images"].append({"id": 99, "file_name": "images/gone.png", "height": 32, "width": 32})
    doc["annotations"][0]["segmentation"] = [[1, 1, 5, 5]]
    doc["annotations"][1]["category_id"] = 42
    doc["annotations"].append(
        {"id": 999, "image_id": 1234, "category_id": 3, "segmentation": [[1, 1, 9, 1, 9, 9]]}
    )
    (where / "coco" / "broken.json").write_text(json.dumps(doc))
    write_yolo(seg_data, where / "yolo", names=["shape"])
    return where


@pytest.fixture(scope="module")
def format_runs(jobs, vf, formats, seg_data, h):
    """The two trainings, beside the tests (the pool's two workers)."""
    jobs.submit(
        "coco-train",
        lambda: vf("train", "coco/instances.json", "--root", seg_data, *h.SEG_TINY, cwd=formats),
    )
    jobs.submit("yolo-train", lambda: vf("train", "yolo/", *h.SEG_TINY, cwd=formats))
    return jobs


def test_coco_check_reports_bad_annotations(vf, formats, seg_data):
    """docs: visionfit check coco/instances.json --root DATA; visionfit check coco/broken.json
    --root DATA --format coco"""
    out = " ".join(
        vf("check", "coco/instances.json", "--root", seg_data, cwd=formats).ok().out.split()
    )
    assert "layout │ coco" in out and "classes │ background, shape" in out
    assert "no problems found" in out and "data usable: 20 images" in out
    res = vf("check", "coco/broken.json", "--root", seg_data, "--format", "coco", cwd=formats)
    out = " ".join(res.ok().out.split())
    assert "coco" in out and "1 category -> classes 1..1" in out
    assert "gone.png: missing" in out
    assert "annotation 1: invalid polygon: fewer than 3 points (2)" in out
    assert "annotation 2: unknown category id 42" in out
    assert "annotation 999: unknown image id 1234" in out
    # annotations 1 and 2 are the first image's: one image left out, one annotation of none
    assert "left out for annotations │ 2" in out


def test_coco_train_scores_as_mask_folders_and_predicts_back(
    format_runs, vf, formats, seg_data, seg_run, h
):
    """docs: visionfit train coco/instances.json --root DATA ...; visionfit predict RUN
    DATA/images --format coco --out preds.json"""
    run = format_runs.get("coco-train").ok().run_dir()
    h.assert_run_dir(run)
    assert json.loads((run / "classes.json").read_text()) in (
        ["background", "shape"],
        {"classes": ["background", "shape"]},
    )
    coco_dice = json.loads((run / "summary.json").read_text())["val_final"]["dice"]
    png_dice = json.loads((seg_run / "summary.json").read_text())["val_final"]["dice"]
    # the same pixels, images, seed and split: equal up to float noise of the threads
    assert abs(coco_dice - png_dice) < 0.02, (coco_dice, png_dice)
    assert json.loads((run / "model.json").read_text())["source"]["category_ids"] == [3]

    res = vf("predict", run, seg_data / "images", "--format", "coco", "--out", "preds.json",
             cwd=formats).ok()  # fmt: skip
    assert "COCO results" in res.out
    results = json.loads((formats / "preds.json").read_text())
    ids = {im["id"] for im in json.loads((formats / "coco/instances.json").read_text())["images"]}
    assert results and all(r["image_id"] in ids and r["category_id"] == 3 for r in results)
    for r in results:
        seg = dict(r["segmentation"], counts=r["segmentation"]["counts"].encode())
        assert coco_mask.decode(seg).shape == (32, 32) and 0.0 <= r["score"] <= 1.0
    # as the mask-folder predictions: the same masks in another encoding
    first = next(r for r in results if r["image_id"] == 1)
    seg = dict(first["segmentation"], counts=first["segmentation"]["counts"].encode())
    assert coco_mask.decode(seg).sum() > 0


def test_yolo_check_train_predict(format_runs, vf, formats, h):
    """docs: visionfit check yolo/data.yaml; visionfit train yolo/ ...; visionfit predict RUN
    yolo/images/val --format yolo --out yolo-preds"""
    out = " ".join(vf("check", "yolo/data.yaml", cwd=formats).ok().out.split())
    assert "yolo" in out and "train: 16, val: 4" in out and "no problems found" in out
    run = format_runs.get("yolo-train").ok().run_dir()
    splits = h.read_csv(run / "splits.csv")
    assert sorted(r["image"].split("/images/")[1] for r in splits if r["split"] == "val") == [
        f"val/img_{i:04d}.png" for i in (4, 9, 14, 19)
    ]
    res = vf("predict", run, "yolo/images/val", "--format", "yolo", "--out", "yolo-preds",
             cwd=formats).ok()  # fmt: skip
    assert "4 YOLO label files" in res.out
    files = sorted((formats / "yolo-preds").glob("*.txt"))
    assert [f.stem for f in files] == [f"img_{i:04d}" for i in (4, 9, 14, 19)]
    for f in files:
        for line in f.read_text().splitlines():
            c, *xy = line.split()
            values = np.array(xy, float)
            assert c == "0" and len(values) >= 6 and len(values) % 2 == 0
            assert ((values >= 0) & (values <= 1)).all()


def test_yolo_invalid_line_reported_and_left_out(vf, formats, tmp_path):
    """check names the bad line; train's error when nothing is usable is one line."""
    import shutil

    data = shutil.copytree(formats / "yolo", tmp_path / "yolo")
    (data / "labels/train/img_0000.txt").write_text("0 0.1 0.1 0.5 0.1 0.5\n")
    out = " ".join(vf("check", data / "data.yaml", cwd=tmp_path).ok().out.split())
    assert "img_0000.txt line 1: odd number of coordinates (5)" in out
    assert "left out for annotations │ 1" in out
