"""Layouts the tutorials use: training/validation/testing split folders, labels from file names
(--label-from-name), masks beside their images (x.png + x_mask.png), and the layouts that would
be misread as classes (nested class folders, images/ + masks/), refused with what to type."""

from __future__ import annotations

import csv

import numpy as np
import pydantic
import pytest
from PIL import Image

from visionfit.config import DataConfig, RunConfig
from visionfit.data.check import check_dataset, drop_unusable
from visionfit.data.masks import beside_suffix, pair_beside
from visionfit.data.name_labels import UNLABELLED, NameLabels, unify_case
from visionfit.data.sources import load_samples
from visionfit.data.synthetic import make_segmentation_dataset, make_shapes_dataset
from visionfit.errors import DataError
from visionfit.tasks.registry import resolve_auto_task
from visionfit.tasks.segmentation.check import check_segmentation
from visionfit.tasks.segmentation.config import SegmentConfig
from visionfit.tasks.segmentation.sources import load_seg_samples


def _img(path, value=100, size=(8, 6)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value, value)).save(path)
    return path


def _mask(path, fg: bool, size=(8, 6)):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((size[1], size[0]), np.uint8)
    arr[1:3, 1:3] = 255 if fg else 0
    Image.fromarray(arr, "L").save(path)
    return path


# ---- split folders ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("train", "val"), [("training", "validation"), ("Training", "Testing"), ("train", "testing")]
)
def test_training_validation_testing_folders_are_splits(tmp_path, train, val):
    make_shapes_dataset(tmp_path / train, n_per_class=3, classes=("cat", "dog"))
    make_shapes_dataset(tmp_path / val, n_per_class=2, classes=("cat", "dog"), seed=1)
    s = load_samples(DataConfig(path=str(tmp_path)))
    assert s.layout == "split-folders"
    assert s.classes == ["cat", "dog"]  # not "training" / "validation"
    expected = "test" if val.lower() == "testing" else "val"
    assert (s.df["split"] == "train").sum() == 6
    assert (s.df["split"] == expected).sum() == 4
    assert all(f"/{train}/" in p for p in s.df.loc[s.df["split"] == "train", "image"])


def test_split_column_reads_training_and_testing(tmp_path):
    root = make_shapes_dataset(tmp_path / "img", n_per_class=2, classes=("a", "b"))
    table = tmp_path / "t.csv"
    files = sorted(root.glob("*/*.png"))
    with open(table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "label", "part"])
        for i, p in enumerate(files):
            w.writerow(
                [p.relative_to(root).as_posix(), p.parent.name, ["Training", "testing"][i % 2]]
            )
    s = load_samples(DataConfig(csv=str(table), root=str(root), split_col="part"))
    assert sorted(set(s.df["split"])) == ["test", "train"]


def test_segmentation_split_folders_named_training_validation(tmp_path):
    for split in ("training", "validation"):
        for i in range(2):
            _img(tmp_path / split / "images" / f"{split}{i}.png")
            _mask(tmp_path / split / "masks" / f"{split}{i}.png", fg=bool(i))
    s = load_seg_samples(DataConfig(path=str(tmp_path)), SegmentConfig())
    assert s.layout == "split-folders"
    assert sorted(s.df["split"]) == ["train", "train", "val", "val"]


# ---- layouts that would be read as classes ------------------------------------------------------


def test_one_folder_holding_the_class_folders_says_point_data_at_it(tmp_path):
    make_shapes_dataset(tmp_path / "foo", n_per_class=2, classes=("cat", "dog"))
    with pytest.raises(DataError) as e:
        load_samples(DataConfig(path=str(tmp_path)))
    msg = str(e.value)
    assert "\n" not in msg
    assert f"point DATA at {tmp_path / 'foo'}" in msg and "cat, dog" in msg


def test_split_folders_under_other_names_say_rename_or_point(tmp_path):
    for name in ("fold1", "fold2"):
        make_shapes_dataset(tmp_path / name, n_per_class=2, classes=("cat", "dog"))
    with pytest.raises(DataError) as e:
        load_samples(DataConfig(path=str(tmp_path)))
    msg = str(e.value)
    assert "fold1, fold2" in msg and "(cat, dog)" in msg
    assert "rename them train/ and val/" in msg and "point DATA at" in msg


def test_nested_split_inside_a_split_folder_is_refused(tmp_path):
    make_shapes_dataset(tmp_path / "train" / "foo", n_per_class=2, classes=("cat", "dog"))
    make_shapes_dataset(tmp_path / "val" / "foo", n_per_class=2, classes=("cat", "dog"))
    with pytest.raises(DataError, match=r"train/foo holds no images of its own"):
        load_samples(DataConfig(path=str(tmp_path)))


def test_class_folders_with_their_own_sub_folders_are_still_classes(tmp_path):
    # images only in sub-folders, but the sub-folders differ between classes: classes as before
    make_shapes_dataset(tmp_path / "cat", n_per_class=2, classes=("indoor",))
    make_shapes_dataset(tmp_path / "dog", n_per_class=2, classes=("park",))
    s = load_samples(DataConfig(path=str(tmp_path)))
    assert s.classes == ["cat", "dog"] and len(s.df) == 4


@pytest.mark.parametrize(("images", "masks"), [("images", "masks"), ("Images", "labels")])
def test_images_and_masks_are_not_two_classes(tmp_path, images, masks):
    make_segmentation_dataset(tmp_path / "s", 4, size=16)
    (tmp_path / "s" / "images").rename(tmp_path / "s" / "tmp")
    (tmp_path / "s" / "tmp").rename(tmp_path / "s" / images)
    (tmp_path / "s" / "masks").rename(tmp_path / "s" / masks)
    with pytest.raises(DataError) as e:
        load_samples(DataConfig(path=str(tmp_path / "s")))
    assert "--task segment" in str(e.value) and f"{images}/ and {masks}/" in str(e.value)
    # --task auto picks segmentation for the same folder (train and check alike)
    cfg = resolve_auto_task(RunConfig().with_overrides({"data.path": str(tmp_path / "s")}))
    assert cfg.data.task == "segment"


def test_auto_task_claims_only_mask_folder_layouts(tmp_path):
    def task_of(path, **more):
        cfg = RunConfig().with_overrides({"data.path": str(path), **more})
        return resolve_auto_task(cfg).data.task

    classes = make_shapes_dataset(tmp_path / "cls", n_per_class=2)
    assert task_of(classes) == "auto"  # classification
    for split in ("train", "val"):
        make_segmentation_dataset(tmp_path / "split" / split, 2, size=16)
    assert task_of(tmp_path / "split") == "segment"
    make_segmentation_dataset(tmp_path / "seg", 2, size=16)
    assert task_of(tmp_path / "seg", **{"data.task": "classify"}) == "classify"  # as typed
    assert task_of(tmp_path / "seg", **{"data.label_from_name": "^(x)"}) == "auto"


# ---- --label-from-name ---------------------------------------------------------------------------


def _flat(tmp_path, names):
    for i, n in enumerate(names):
        _img(tmp_path / n, value=10 * i)
    return tmp_path


def test_labels_from_file_names_in_a_flat_folder(tmp_path):
    root = _flat(tmp_path / "d", ["cat.1.png", "cat.2.png", "dog.3.png", "DOG.4.jpg", "x.png"])
    s = load_samples(DataConfig(path=str(root), label_from_name=r"^(cat|dog)\."))
    assert s.layout == "file-names"
    assert s.classes == ["cat", "dog"]
    labels = dict(zip((p.rsplit("/", 1)[1] for p in s.df["image"]), s.df["label"], strict=True))
    assert labels == {
        "cat.1.png": "cat",
        "cat.2.png": "cat",
        "dog.3.png": "dog",
        "DOG.4.jpg": "dog",
    }
    assert s.unlabelled == [(str((root / "x.png").resolve()), NameLabels(r"^(cat|dog)\.").detail)]
    assert (s.df["split"] == "").all()


def test_labels_from_names_searched_recursively_and_in_split_folders(tmp_path):
    _flat(tmp_path / "a" / "sub", ["cat.1.png", "dog.2.png"])
    _flat(tmp_path / "a", ["cat.3.png", "dog.4.png"])
    s = load_samples(DataConfig(path=str(tmp_path / "a"), label_from_name=r"^([a-z]+)\.\d"))
    assert sorted(s.df["label"]) == ["cat", "cat", "dog", "dog"]
    _flat(tmp_path / "b" / "training", ["cat.1.png", "dog.2.png", "cat.5.png", "dog.6.png"])
    _flat(tmp_path / "b" / "validation", ["Cat.3.png", "dog.4.png"])
    s = load_samples(DataConfig(path=str(tmp_path / "b"), label_from_name=r"^([a-z]+)\."))
    assert s.layout == "split-file-names"
    assert s.classes == ["cat", "dog"]  # Cat in validation/ is the class cat
    val = s.df[s.df["split"] == "val"]
    assert sorted(val["label"]) == ["cat", "dog"]


def test_label_from_name_in_a_csv_with_only_an_image_column(tmp_path):
    root = _flat(tmp_path / "img", ["cat.1.png", "cat.2.png", "dog.3.png", "dog.4.png", "x.png"])
    table = tmp_path / "files.csv"
    table.write_text("image\ncat.1.png\ncat.2.png\ndog.3.png\ndog.4.png\nx.png\n")
    cfg = DataConfig(csv=str(table), root=str(root), label_from_name=r"^(cat|dog)\.")
    s = load_samples(cfg)
    assert s.classes == ["cat", "dog"]
    assert s.df["label"].tolist() == ["cat", "cat", "dog", "dog"]
    assert [p for p, _ in s.unlabelled] == [str((root / "x.png").resolve())]


def test_unlabelled_files_are_skipped_with_a_reason_by_train_and_check(tmp_path):
    root = make_shapes_dataset(tmp_path / "src", n_per_class=3, classes=("circle", "square"))
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, p in enumerate(sorted(root.glob("*/*.png"))):
        (flat / f"{p.parent.name}.{i}.png").write_bytes(p.read_bytes())
    (flat / "notes.png").write_bytes(p.read_bytes())
    cfg = DataConfig(path=str(flat), label_from_name=r"^(circle|square)\.")
    usable = drop_unusable(load_samples(cfg), cfg)
    assert usable.skipped[["reason"]].values.ravel().tolist() == [UNLABELLED]
    assert usable.skipped["image"].iloc[0].endswith("notes.png")
    assert "--label-from-name" in usable.skipped["detail"].iloc[0]
    report = check_dataset(cfg, use_cache=False)
    assert report.usable and report.classes == {"circle": 3, "square": 3}
    assert [f["reason"] for f in report.bad_files] == [UNLABELLED]
    assert report.bad_by_reason == {UNLABELLED: 1} and report.counts["unlabelled"] == 1
    assert any("without a label" in w for w in report.warnings)


def test_label_from_name_errors(tmp_path):
    root = _flat(tmp_path / "d", ["cat.1.png", "dog.2.png"])
    with pytest.raises(DataError) as e:
        load_samples(DataConfig(path=str(root), label_from_name=r"^(bird)\."))
    assert "'^(bird)\\.' matches none of the 2 file names" in str(e.value)
    assert "'cat.1.png'" in str(e.value)
    with pytest.raises(pydantic.ValidationError, match="has no group"):
        DataConfig(path=str(root), label_from_name="cat")
    with pytest.raises(pydantic.ValidationError, match="not a regular expression"):
        DataConfig(path=str(root), label_from_name="(")
    table = tmp_path / "t.csv"
    table.write_text("image,a,b\ncat.1.png,1,0\n")
    with pytest.raises(DataError, match="cannot be combined with --label-cols"):
        load_samples(
            DataConfig(csv=str(table), root=str(root), label_from_name="(c)", label_cols="a,b")
        )


def test_case_spellings_of_a_label_are_one_class():
    assert unify_case(["Cat", "cat", "cat", None, "DOG"]) == ["cat", "cat", "cat", None, "DOG"]
    assert unify_case(["B", "b"]) == ["b", "b"]  # a tie: the lower-case spelling
    assert unify_case(["Ab", "AB"]) == ["AB", "AB"]  # else the first in sorted order


# ---- masks beside their images -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "image_ext", "mask_ext"),
    [
        ("_mask", ".png", ".png"),
        ("_mask", ".jpg", ".tif"),
        ("_seg", ".png", ".png"),
        ("-mask", ".png", ".png"),
    ],
)
def test_masks_beside_their_images(tmp_path, suffix, image_ext, mask_ext):
    for i in range(4):
        _img(tmp_path / f"x{i}{image_ext}")
        _mask(tmp_path / f"x{i}{suffix}{mask_ext}", fg=i % 2 == 1)
    assert beside_suffix(tmp_path) == suffix
    pairs = pair_beside(tmp_path, suffix)
    assert [(a.name, b.name) for a, b in pairs] == [
        (f"x{i}{image_ext}", f"x{i}{suffix}{mask_ext}") for i in range(4)
    ]
    s = load_seg_samples(DataConfig(path=str(tmp_path)), SegmentConfig())
    assert s.layout == "mask-beside" and len(s.df) == 4
    assert s.df["empty_mask"].tolist() == [True, False, True, False]
    report = check_segmentation(DataConfig(path=str(tmp_path)), SegmentConfig())
    assert report.layout == "mask-beside" and report.n_images == 4 and report.ok


def test_masks_beside_their_images_errors_and_given_suffix(tmp_path):
    for i in range(3):
        _img(tmp_path / "a" / f"x{i}.png")
        _mask(tmp_path / "a" / f"x{i}_mask.png", fg=True)
    (tmp_path / "a" / "x0_mask.png").unlink()
    with pytest.raises(DataError, match=r"1 images have no <name>_mask mask beside them .*x0\.png"):
        load_seg_samples(DataConfig(path=str(tmp_path / "a")), SegmentConfig())
    # --mask-suffix names another ending; a folder with no pairs at all says what is expected
    for i in range(2):
        _img(tmp_path / "b" / f"x{i}.png")
        _mask(tmp_path / "b" / f"x{i}_gt.png", fg=True)
    assert beside_suffix(tmp_path / "b") == ""
    s = load_seg_samples(DataConfig(path=str(tmp_path / "b")), SegmentConfig(mask_suffix="_gt"))
    assert len(s.df) == 2
    with pytest.raises(DataError, match=r"x\.png \+ \S*x_mask\.png"):
        load_seg_samples(DataConfig(path=str(tmp_path / "b")), SegmentConfig())


def test_a_class_label_csv_given_as_data_says_how_to_give_it(tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("image,label\ncat.1.png,cat\n")
    with pytest.raises(DataError, match=r"given as --csv labels\.csv --root IMAGES"):
        load_seg_samples(DataConfig(path=str(table)), SegmentConfig())
    # an RLE CSV without its columns still names the option that picks them
    rle = tmp_path / "rle.csv"
    rle.write_text("Id,Pixels\na,1 2\n")
    with pytest.raises(DataError, match=r"choose one with --id-col"):
        load_seg_samples(DataConfig(path=str(rle)), SegmentConfig())


def test_nested_class_folders_beside_a_runs_folder_are_still_refused(tmp_path):
    from visionfit.runs.kind import is_visionfit_dir

    make_shapes_dataset(tmp_path / "foo", n_per_class=2, classes=("cat", "dog"))
    run = tmp_path / "runs" / "simple_cnn-1"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("data: {}\n")
    (run / "classes.json").write_text('["cat", "dog"]')
    _img(run / "plots" / "samples.png")
    assert is_visionfit_dir(run)
    with pytest.raises(DataError, match="point DATA at"):
        load_samples(DataConfig(path=str(tmp_path)), skip_dir=is_visionfit_dir)
