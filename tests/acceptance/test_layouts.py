"""The tutorials' data layouts, as a user runs them (installed CLI, tiny generated data, 1 epoch):

- DATA/training/{cat,dog} + DATA/validation/{cat,dog}: two classes, the given split (not two
  classes "training" and "validation");
- a flat folder of cat.1.png / dog.2.png with --label-from-name (a file it does not label is
  skipped and listed, in train's skipped.csv and in check);
- images with their masks beside them (x.png + x_mask.png) with --task segment;
- DATA/images + DATA/masks with --task auto: segmentation for train as for check;
- the refusals (exit 2, one line, what to type): class folders one level too deep, images/ +
  masks/ read as classes, a --label-from-name without a group.
"""

from __future__ import annotations

import json
import shutil

import pytest

from visionfit.data.synthetic import make_segmentation_dataset, make_shapes_dataset


@pytest.fixture(scope="module")
def layout_jobs(jobs, vf, ws, h):
    """Generate the layouts and queue this module's commands (two at a time)."""
    root = ws / "layouts"
    tv = root / "tv"
    make_shapes_dataset(tv / "training", 6, classes=("cat", "dog"), size=32, seed=21)
    make_shapes_dataset(tv / "validation", 3, classes=("cat", "dog"), size=32, seed=22)

    src = make_shapes_dataset(root / "flat-src", 6, classes=("cat", "dog"), size=32, seed=23)
    flat = root / "flat"
    flat.mkdir()
    for i, p in enumerate(sorted(src.glob("*/*.png"))):
        shutil.copy(p, flat / f"{p.parent.name}.{i}.png")
    shutil.copy(p, flat / "readme.png")  # no label in its name

    seg = make_segmentation_dataset(root / "seg", 12, size=32, seed=24)
    pairs = root / "pairs"
    pairs.mkdir()
    for p in sorted((seg / "images").glob("*.png")):
        shutil.copy(p, pairs / p.name)
        shutil.copy(seg / "masks" / p.name, pairs / f"{p.stem}_mask.png")

    nested = root / "nested"
    make_shapes_dataset(nested / "foo", 3, classes=("cat", "dog"), size=32, seed=25)

    name_re = ("--label-from-name", r"^(cat|dog)\.")
    seg_tiny = h.SEG_TINY
    submit = jobs.submit
    submit("layouts-tv-train", lambda: vf("train", tv, *h.TINY, cwd=root / "r-tv"))
    submit("layouts-tv-check", lambda: vf("check", tv, cwd=root / "c-tv"))
    submit("layouts-name-train", lambda: vf("train", flat, *h.TINY, *name_re, cwd=root / "r-n"))
    submit("layouts-name-check", lambda: vf("check", flat, *name_re, cwd=root / "c-n"))
    submit(
        "layouts-pairs-train",
        lambda: vf("train", pairs, "--task", "segment", *seg_tiny, cwd=root / "r-p"),
    )
    submit("layouts-pairs-check", lambda: vf("check", pairs, "--task", "segment", cwd=root / "c-p"))
    submit("layouts-seg-auto-train", lambda: vf("train", seg, *seg_tiny, cwd=root / "r-s"))
    submit("layouts-seg-auto-check", lambda: vf("check", seg, cwd=root / "c-s"))
    submit("layouts-nested-train", lambda: vf("train", nested, *h.TINY, cwd=root / "r-x"))
    submit("layouts-nested-check", lambda: vf("check", nested, cwd=root / "c-x"))
    submit(
        "layouts-classify-masks",
        lambda: vf("train", seg, "--task", "classify", *h.TINY, cwd=root / "r-m"),
    )
    submit(
        "layouts-no-group",
        lambda: vf("train", flat, "--label-from-name", "cat", *h.TINY, cwd=root / "r-g"),
    )
    return jobs


def test_training_validation_folders_are_the_split_not_two_classes(layout_jobs, h):
    """README: visionfit train DATA   (also training/, valid/, validation/, test/, testing/)"""
    res = layout_jobs.get("layouts-tv-train").ok()
    run = res.run_dir()
    assert json.loads((run / "classes.json").read_text()) == ["cat", "dog"]
    rows = h.read_csv(run / "splits.csv")
    assert len(rows) == 18
    for r in rows:  # the split is the folder each image sits in
        folder = "training" if r["split"] == "train" else "validation"
        assert r["split"] in ("train", "val") and f"/{folder}/{r['label']}/" in r["image"]
    assert sum(r["split"] == "val" for r in rows) == 6
    summary = json.loads((run / "summary.json").read_text())
    assert summary["layout"] == "split-folders"
    assert (summary["n_train"], summary["n_val"]) == (12, 6)

    check = layout_jobs.get("layouts-tv-check")
    assert check.rc == 0, check.tail()
    out = " ".join((check.out + check.err).split())
    assert "split-folders" in out and "18 images in 2 classes" in out


def test_labels_from_file_names_train_and_check(layout_jobs, h):
    """README: visionfit train DATA --label-from-name '^(cat|dog)\\.'"""
    res = layout_jobs.get("layouts-name-train").ok()
    run = res.run_dir()
    assert json.loads((run / "classes.json").read_text()) == ["cat", "dog"]
    rows = h.read_csv(run / "splits.csv")
    assert len(rows) == 12
    assert all(r["image"].rsplit("/", 1)[1].startswith(r["label"] + ".") for r in rows)
    skipped = h.read_csv(run / "skipped.csv")
    assert [(s["image"].rsplit("/", 1)[1], s["reason"]) for s in skipped] == [
        ("readme.png", "unlabelled")
    ]
    assert "--label-from-name" in skipped[0]["detail"]
    assert r"label_from_name: ^(cat|dog)\." in (run / "config.yaml").read_text()

    check = layout_jobs.get("layouts-name-check")
    assert check.rc == 0, check.tail()
    out = " ".join((check.out + check.err).split())
    assert "file-names" in out and "readme.png" in out and "unlabelled" in out


def test_masks_beside_their_images_with_task_segment(layout_jobs, h):
    """README: visionfit train DATA --task segment   # DATA/x.png + DATA/x_mask.png in one folder"""
    res = layout_jobs.get("layouts-pairs-train").ok()
    rows = h.read_csv(res.run_dir() / "splits.csv")
    assert len(rows) == 12
    for r in rows:
        assert r["mask"] == r["image"].removesuffix(".png") + "_mask.png"
    check = layout_jobs.get("layouts-pairs-check")
    assert check.rc == 0, check.tail()
    assert "mask-beside" in check.out + check.err


def test_images_and_masks_with_task_auto_are_segmentation_for_train_and_check(layout_jobs, h):
    run = layout_jobs.get("layouts-seg-auto-train").ok().run_dir()
    assert "task: segment" in (run / "config.yaml").read_text()
    assert "mask" in h.read_csv(run / "splits.csv")[0]
    check = layout_jobs.get("layouts-seg-auto-check")
    assert check.rc == 0, check.tail()
    assert "kind of mask" in " ".join((check.out + check.err).split())


def test_layouts_read_as_classes_are_refused_with_what_to_type(layout_jobs, h):
    line = h.one_line_error(layout_jobs.get("layouts-nested-train"))
    assert "nested/foo holds no images of its own" in line and "point DATA at" in line
    check = layout_jobs.get("layouts-nested-check")
    assert check.rc == 2 and line in check.err, check.tail()  # check says what train says

    line = h.one_line_error(layout_jobs.get("layouts-classify-masks"))
    assert "images/ and masks/" in line and "--task segment" in line

    line = h.one_line_error(layout_jobs.get("layouts-no-group"))
    assert "label_from_name" in line and "has no group" in line
