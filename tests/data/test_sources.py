"""The data layouts people have become one samples table; bad layouts give actionable errors."""

from __future__ import annotations

import pandas as pd
import pytest

from visionfit.config import DataConfig
from visionfit.data.sources import load_samples, sorted_classes
from visionfit.data.splits import holdout_split
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.errors import DataError
from visionfit.tasks.classification.labels import resolve_label_mode as resolve_task


def test_class_folders_any_extension_case_and_ignored_files(tmp_path):
    root = make_shapes_dataset(tmp_path / "d", n_per_class=4, classes=("a", "b"))
    (root / "a" / "UPPER.PNG").write_bytes((root / "a" / "a_0000.png").read_bytes())
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "b" / "nested").mkdir()
    make_shapes_dataset(root / "b" / "nested", n_per_class=1, classes=("x",), ext=".jpg")
    s = load_samples(DataConfig(path=str(root)))
    assert s.classes == ["a", "b"]
    assert s.layout == "folders"
    assert s.ignored_files == 1
    assert (s.df["label"] == "a").sum() == 5  # the .PNG counts
    assert (s.df["label"] == "b").sum() == 5  # images in sub-folders of a class count
    assert set(s.df.columns) >= {"image", "label", "target", "split"}
    assert resolve_task(s, "auto") == "binary"


@pytest.mark.parametrize("val_name", ["val", "valid", "validation"])
def test_split_folders_are_used_as_given(tmp_path, val_name):
    make_shapes_dataset(tmp_path / "train", n_per_class=5)
    make_shapes_dataset(tmp_path / val_name, n_per_class=2, seed=3)
    s = load_samples(DataConfig(path=str(tmp_path)))
    assert s.layout == "split-folders"
    assert (s.df["split"] == "train").sum() == 15 and (s.df["split"] == "val").sum() == 6
    split = holdout_split(s.df, 0.5, seed=0)  # a given split is kept
    assert (split["split"] == "val").sum() == 6
    assert resolve_task(s, "auto") == "multiclass"


def test_holdout_is_stratified_and_seeded(tmp_path):
    df = pd.DataFrame(
        {
            "image": [f"{i}.png" for i in range(100)],
            "label": ["a"] * 80 + ["b"] * 20,
            "target": [0] * 80 + [1] * 20,
            "split": "",
        }
    )
    a, b = holdout_split(df, 0.2, seed=1), holdout_split(df, 0.2, seed=1)
    assert (a["split"] == b["split"]).all()
    val = a[a["split"] == "val"]
    assert len(val) == 20 and (val["target"] == 1).sum() == 4
    c = holdout_split(df, 0.2, seed=2)
    assert not (a["split"] == c["split"]).all()


def test_csv_string_labels_and_ids_without_extension(tmp_path):
    root = make_shapes_dataset(tmp_path / "imgs", n_per_class=3, classes=("cat", "dog"))
    rows = [{"id": f"{c}/{c}_{i:04d}", "y": c} for c in ("cat", "dog") for i in range(3)]
    csv = tmp_path / "train.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    s = load_samples(
        DataConfig(csv=str(csv), root=str(root), image_col="id", label_col="y", image_ext=".png")
    )
    assert s.classes == ["cat", "dog"] and len(s.df) == 6 and s.layout == "csv"
    with pytest.raises(DataError, match=r"6 of 6 CSV rows point to missing files.*--image-ext"):
        load_samples(DataConfig(csv=str(csv), root=str(root), image_col="id", label_col="y"))


def test_csv_integer_labels_sort_numerically(tmp_path):
    root = make_shapes_dataset(tmp_path / "imgs", n_per_class=4, classes=("x",))
    images = [f"x/x_{i:04d}.png" for i in range(4)]  # one file per row: no conflicting labels
    csv = tmp_path / "t.csv"
    pd.DataFrame({"image": images, "label": [10, 2, 2, 10]}).to_csv(csv, index=False)
    s = load_samples(DataConfig(csv=str(csv), root=str(root)))
    assert s.classes == ["2", "10"]
    assert list(s.df["target"]) == [1, 0, 0, 1]
    assert sorted_classes(["b", "a"]) == ["a", "b"]


def test_error_missing_path(tmp_path):
    with pytest.raises(DataError, match="data folder not found: .*nope"):
        load_samples(DataConfig(path=str(tmp_path / "nope")))


def test_error_empty_folder(tmp_path):
    with pytest.raises(DataError, match="no images found in"):
        load_samples(DataConfig(path=str(tmp_path)))


def test_error_loose_images_without_class_folders(tmp_path):
    make_shapes_dataset(tmp_path, n_per_class=2, classes=("a",))
    for p in (tmp_path / "a").iterdir():
        p.rename(tmp_path / p.name)
    (tmp_path / "a").rmdir()
    with pytest.raises(DataError, match="no class folders"):
        load_samples(DataConfig(path=str(tmp_path)))


def test_error_class_folder_without_images(tmp_path):
    make_shapes_dataset(tmp_path, n_per_class=2, classes=("a", "b"))
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "empty_class" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="class folder.* without images.*empty_class"):
        load_samples(DataConfig(path=str(tmp_path)))


def test_error_single_class(tmp_path):
    make_shapes_dataset(tmp_path, n_per_class=2, classes=("a",))
    with pytest.raises(DataError, match="at least two"):
        load_samples(DataConfig(path=str(tmp_path)))


def test_error_csv_column_lists_columns(tmp_path):
    csv = tmp_path / "t.csv"
    pd.DataFrame({"file": ["a.png"], "target": ["x"]}).to_csv(csv, index=False)
    with pytest.raises(DataError, match=r"column 'image' not in t.csv; columns are: file, target"):
        load_samples(DataConfig(csv=str(csv)))


def test_error_csv_missing_files_counted_with_examples(tmp_path):
    root = make_shapes_dataset(tmp_path / "imgs", n_per_class=2, classes=("a", "b"))
    csv = tmp_path / "t.csv"
    names = ["a/a_0000.png", "a/gone1.png", "b/gone2.png", "b/gone3.png", "b/gone4.png"]
    pd.DataFrame({"image": names, "label": ["a", "a", "b", "b", "b"]}).to_csv(csv, index=False)
    with pytest.raises(DataError, match=r"4 of 5 CSV rows point to missing files, e\.g\. .*gone1"):
        load_samples(DataConfig(csv=str(csv), root=str(root)))


def test_error_binary_task_with_three_classes(tmp_path):
    make_shapes_dataset(tmp_path, n_per_class=2)
    s = load_samples(DataConfig(path=str(tmp_path)))
    with pytest.raises(DataError, match="exactly 2 classes"):
        resolve_task(s, "binary")


def test_csv_row_naming_a_pipe_is_unreadable_not_missing(tmp_path):
    import os

    from visionfit.data.check import check_dataset

    root = make_shapes_dataset(tmp_path / "imgs", n_per_class=3, size=16, classes=("a", "b"))
    os.mkfifo(root / "a" / "pipe.png")
    rows = [(f"{c}/{c}_{i:04d}.png", c) for c in ("a", "b") for i in range(3)]
    rows.append(("a/pipe.png", "a"))
    csv = tmp_path / "t.csv"
    pd.DataFrame(rows, columns=["image", "label"]).to_csv(csv, index=False)
    report = check_dataset(DataConfig(csv=str(csv), root=str(root)), use_cache=False)
    assert report.missing_rows == []
    [bad] = report.bad_files
    assert bad["reason"] == "unreadable" and "not a regular file" in bad["detail"]
