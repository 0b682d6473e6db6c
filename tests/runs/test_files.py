"""Values read back from a run directory meet the limits training applies, or are one RunError
naming the file and the key; the files themselves are read bounded."""

from __future__ import annotations

import json

import pytest

from visionfit.errors import RunError
from visionfit.runs import files as run_files

META = {
    "format": "visionfit-bundle",
    "classes": ["a", "b", "c"],
    "in_chans": 3,
    "max_pixels": 64_000_000,
    "img_size": 32,
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
    "num_outputs": 3,
}


def write_meta(run, **changes):
    run.mkdir(exist_ok=True)
    (run / "model.json").write_text(json.dumps({**META, **changes}))


def test_a_sound_model_json_reads_back(tmp_path):
    write_meta(tmp_path / "run")
    assert run_files.read_model_meta(tmp_path / "run") == META


@pytest.mark.parametrize(
    ("changes", "key", "shown"),
    [
        ({"img_size": 100_000}, "img_size", "100000"),
        ({"img_size": "big"}, "img_size", "'big'"),
        ({"in_chans": 65}, "in_chans", "65"),  # 1..64: TIFF pages, DICOM windows
        ({"max_pixels": 10**12}, "max_pixels", "1000000000000"),
        ({"num_outputs": 10**9}, "num_outputs", "1000000000"),
        ({"mean": [0.5]}, "mean", "[0.5]"),
        ({"std": [0.5, 0.0, 0.5]}, "std", "0.0"),
        ({"classes": ["a", ["nested"]]}, "classes", "['nested']"),
        ({"classes": "abc"}, "classes", "'abc'"),
        ({"kind": "cv", "members": ["fold_0", "../../etc"]}, "members", "../../etc"),
        ({"kind": "cv", "members": ["/etc"]}, "members", "/etc"),
        ({"threshold": [0.5, 7]}, "threshold", "7"),
        ({"arch": None}, "arch", "None"),
    ],
)
def test_a_hand_edited_value_is_one_line_naming_file_and_key(tmp_path, changes, key, shown):
    write_meta(tmp_path / "run", **changes)
    with pytest.raises(RunError) as info:
        run_files.read_model_meta(tmp_path / "run")
    text = str(info.value)
    assert text.startswith(f"{tmp_path / 'run' / 'model.json'}: {key}: "), text
    assert shown in text and "\n" not in text and "retrain" in text


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "baseline", "members": ["."]},  # a baseline's refit: the run itself
        {"kind": "cv", "members": ["../simple_cnn-a", "../simple_cnn-b"]},  # auto's ensemble
        {"threshold": [0.3, 0.7, 0.1]},  # multi-label: one threshold per label
        {"threshold": None, "head_dropout": 0},
    ],
)
def test_what_training_writes_reads_back(tmp_path, changes):
    write_meta(tmp_path / "run", **changes)
    assert run_files.read_model_meta(tmp_path / "run") == {**META, **changes}


def test_huge_values_are_clipped_in_the_message(tmp_path):
    write_meta(tmp_path / "run", mean=[0.5] * 100_000)
    with pytest.raises(RunError, match="mean") as info:
        run_files.read_model_meta(tmp_path / "run")
    assert len(str(info.value)) < 400


def test_classes_json_is_checked_too(tmp_path):
    (tmp_path / "classes.json").write_text(json.dumps(["a", {"b": 1}]))
    with pytest.raises(RunError, match=r"classes.json: classes: a class name is not text"):
        run_files.read_classes(tmp_path)
    (tmp_path / "classes.json").write_text("[1, 2")
    with pytest.raises(RunError, match="not valid JSON"):
        run_files.read_classes(tmp_path)


def test_run_files_are_read_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(run_files, "MAX_RUN_FILE_BYTES", 100)
    write_meta(tmp_path / "run", classes=["x" * 200])
    with pytest.raises(RunError, match=r"model.json: unreadable \(.*over the .* limit\)"):
        run_files.read_model_meta(tmp_path / "run")


def test_a_damaged_summary_is_one_line(tmp_path):
    from visionfit.runs.summary import read_summary

    (tmp_path / "summary.json").write_text('{"schema_version": "abc"}')
    with pytest.raises(RunError, match="schema_version is not a number"):
        read_summary(tmp_path)
