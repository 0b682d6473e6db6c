"""The one folder walk of the layouts: hidden files and visionfit's own folders are never data."""

from __future__ import annotations

import shutil
from pathlib import Path

from visionfit.config import DataConfig
from visionfit.data.listing import list_images
from visionfit.data.masks import pair_images_masks
from visionfit.data.sources import load_samples
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.runs.kind import is_visionfit_dir


def _fake_run(folder, with_plot=True):
    """A run directory as train leaves it: config.yaml (what runs/kind.py recognises), plots."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("model:\n  name: simple_cnn\n")
    (folder / "classes.json").write_text('["a", "b"]')
    if with_plot:
        (folder / "curves.png").write_bytes(b"\x89PNG not really")
    return folder


def test_list_images_prunes_skipped_and_hidden_folders(tmp_path):
    root = make_shapes_dataset(tmp_path / "d", n_per_class=2, classes=("a",))
    run = _fake_run(root / "a" / "old-run")
    (root / "a" / ".hidden").mkdir()
    shutil.copy(next((root / "a").glob("*.png")), root / "a" / ".hidden" / "x.png")
    (root / "a" / "readme.txt").write_text("text")
    listing = list_images(root / "a", is_visionfit_dir)
    assert len(listing.images) == 2 and listing.ignored == 1
    assert listing.skipped_dirs == [run]
    assert len(list_images(root / "a").images) == 3  # no predicate: the run's plot is listed


def test_a_runs_folder_in_the_data_is_no_class_and_is_noted(tmp_path):
    root = make_shapes_dataset(tmp_path / "d", n_per_class=3, classes=("a", "b"))
    _fake_run(root / "runs" / "simple_cnn-1")
    _fake_run(root / "runs" / "simple_cnn-2")
    _fake_run(root / "b" / "a-run-in-a-class")  # a class keeps its images, loses the run
    s = load_samples(DataConfig(path=str(root)), skip_dir=is_visionfit_dir)
    assert s.classes == ["a", "b"]
    assert len(s.df) == 6 and not s.df["image"].str.contains("curves").any()
    assert any("runs/" in n and "b/a-run-in-a-class" in n for n in s.notes), s.notes
    # without the predicate (the old behaviour) "runs" became a class
    assert "runs" in load_samples(DataConfig(path=str(root))).classes


def test_split_folders_and_mask_folders_skip_runs_too(tmp_path):
    make_shapes_dataset(tmp_path / "train", n_per_class=3, classes=("a", "b"))
    make_shapes_dataset(tmp_path / "val", n_per_class=1, classes=("a", "b"))
    _fake_run(tmp_path / "train" / "a" / "run")
    s = load_samples(DataConfig(path=str(tmp_path)), skip_dir=is_visionfit_dir)
    assert (s.df["split"] == "train").sum() == 6
    images, masks = tmp_path / "seg" / "images", tmp_path / "seg" / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    shutil.copy(next((tmp_path / "val" / "a").glob("*.png")), images / "x.png")
    shutil.copy(images / "x.png", masks / "x.png")
    _fake_run(images / "run")
    assert len(pair_images_masks(images, masks, skip_dir=is_visionfit_dir)) == 1


def test_the_cache_folder_is_a_visionfit_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFIT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "plain").mkdir()
    assert is_visionfit_dir(tmp_path / "cache")
    assert not is_visionfit_dir(tmp_path / "plain")
    assert is_visionfit_dir(_fake_run(tmp_path / "r", with_plot=False))
    own = tmp_path / "user-class"  # a class folder with the user's own config.yaml stays data
    own.mkdir()
    (own / "config.yaml").write_text("camera: 3\n")
    assert not is_visionfit_dir(own)


def test_stored_paths_are_real_paths_and_a_links_own_path(tmp_path):
    """StoredPaths gives what Path.resolve() gives for a file, through a linked folder too,
    and a linked file's own absolute path (resolving each folder once)."""
    import os

    from visionfit.data.listing import StoredPaths

    real = tmp_path / "real" / "cats"
    real.mkdir(parents=True)
    (real / "a.png").write_bytes(b"x")
    (tmp_path / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    (real / "b.png").symlink_to(real / "a.png")
    stored = StoredPaths()
    via_link = tmp_path / "linked" / "cats" / "a.png"
    assert stored(via_link) == str(via_link.resolve()) == str(real / "a.png")
    assert stored(real / "b.png") == str((real / "b.png").absolute())
    rel = Path(os.path.relpath(real / "a.png"))
    assert stored(rel) == str(rel.resolve())
