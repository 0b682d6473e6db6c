"""--exclude / --relabel files (data/label_edits.py): which rows count, what changes, errors."""

import pandas as pd
import pytest

from visionfit.data.label_edits import apply_label_edits, read_label_edits
from visionfit.errors import DataError

CLASSES = ["cat", "dog"]


def _samples(tmp_path):
    images = [str(tmp_path / f"{i}.png") for i in range(4)]
    return pd.DataFrame(
        {"image": images, "label": ["cat", "cat", "dog", "dog"], "target": [0, 0, 1, 1]}
    )


def _csv(tmp_path, text, name="edits.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_exclude_every_listed_image_without_exclude_marks(tmp_path):
    df = _samples(tmp_path)
    p = _csv(tmp_path, f"image,exclude\n{df.image[0]},\n{df.image[2]},\n")
    kept, excluded = apply_label_edits(df, CLASSES, read_label_edits(p, None))
    assert list(kept["image"]) == [df.image[1], df.image[3]]
    assert list(excluded["image"]) == [df.image[0], df.image[2]]
    assert set(excluded["reason"]) == {"excluded"}


def test_exclude_only_marked_rows_when_the_column_is_used(tmp_path):
    df = _samples(tmp_path)
    p = _csv(tmp_path, f"image,exclude\n{df.image[0]},yes\n{df.image[2]},\n{df.image[3]},0\n")
    kept, excluded = apply_label_edits(df, CLASSES, read_label_edits(p, None))
    assert list(excluded["image"]) == [df.image[0]]
    assert len(kept) == 3


def test_exclude_matches_relative_paths(tmp_path, monkeypatch):
    df = _samples(tmp_path)
    monkeypatch.chdir(tmp_path)
    p = _csv(tmp_path, "image\n1.png\n")
    _, excluded = apply_label_edits(df, CLASSES, read_label_edits(p, None))
    assert list(excluded["image"]) == [df.image[1]]


def test_unreadable_exclude_mark_is_an_error(tmp_path):
    df = _samples(tmp_path)
    p = _csv(tmp_path, f"image,exclude\n{df.image[0]},maybe\n")
    with pytest.raises(DataError, match="exclude column of row 2"):
        read_label_edits(p, None)


def test_relabel_sets_label_and_target(tmp_path):
    df = _samples(tmp_path)
    p = _csv(tmp_path, f"image,relabel\n{df.image[0]},dog\n{df.image[2]},\n")
    kept, excluded = apply_label_edits(df, CLASSES, read_label_edits(None, p))
    assert excluded.empty
    assert list(kept["label"]) == ["dog", "cat", "dog", "dog"]
    assert list(kept["target"]) == [1, 0, 1, 1]


def test_relabel_unknown_class_is_one_line_error(tmp_path):
    df = _samples(tmp_path)
    p = _csv(tmp_path, f"image,relabel\n{df.image[0]},bird\n")
    with pytest.raises(DataError, match="bird; classes are: cat, dog"):
        apply_label_edits(df, CLASSES, read_label_edits(None, p))


def test_relabel_needs_the_relabel_column(tmp_path):
    p = _csv(tmp_path, "image\nx.png\n")
    with pytest.raises(DataError, match="'relabel'"):
        read_label_edits(None, p)


def test_relabel_refused_for_vector_labels(tmp_path):
    df = _samples(tmp_path).assign(targets=[[1.0, 0.0]] * 4)
    p = _csv(tmp_path, f"image,relabel\n{df.image[0]},dog\n")
    with pytest.raises(DataError, match="single-label"):
        apply_label_edits(df, CLASSES, read_label_edits(None, p))


def test_unedited_audit_file_excludes_only_its_flagged_rows(tmp_path):
    """label_issues.csv as audit writes it lists, after the flagged rows, images the model merely
    disagrees with (flagged False): without marks, only the flagged ones are left out."""
    df = _samples(tmp_path)
    p = _csv(
        tmp_path,
        f"image,flagged,exclude\n{df.image[0]},True,\n{df.image[1]},False,\n{df.image[2]},True,\n",
    )
    kept, excluded = apply_label_edits(df, CLASSES, read_label_edits(p, None))
    assert list(excluded["image"]) == [df.image[0], df.image[2]]
    assert df.image[1] in set(kept["image"])
