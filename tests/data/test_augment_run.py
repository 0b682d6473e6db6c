"""The run's augment.yaml (runs/files.py) and augmentation files where a preset name was taken
(tune's search space, recipes)."""

from __future__ import annotations

import albumentations as A
import pytest
import yaml

from visionfit.automl.tune_space import load_space
from visionfit.config import RunConfig
from visionfit.data import augment as G
from visionfit.engine.recipes import resolve_recipe
from visionfit.errors import RunError, VisionfitError
from visionfit.runs import files as run_files


def _pipe(tmp_path, p: float = 0.6):
    path = tmp_path / "pipe.yaml"
    path.write_text(yaml.safe_dump(G.augment_dict(A.Compose([A.Rotate(limit=45, p=p)]))))
    return path


def test_write_augment_once_and_never_overwrite(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cfg = RunConfig.from_dict({"augment": {"preset": str(_pipe(tmp_path)), "rot90": True}})
    run_files.write_augment(run, cfg)
    written = (run / run_files.AUGMENT).read_text()
    got = run_files.read_augment(run)
    assert [type(t).__name__ for t in got.transforms] == ["Rotate", "RandomRotate90"]
    # a second write (a resume that writes its inputs again) leaves the first as it was
    run_files.write_augment(run, RunConfig.from_dict({"augment": {"preset": "heavy"}}))
    assert (run / run_files.AUGMENT).read_text() == written


def test_resume_trains_with_the_runs_own_pipeline(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    pipe = _pipe(tmp_path)
    cfg = RunConfig.from_dict({"augment": {"preset": str(pipe), "vflip": True}})
    run_files.write_augment(run, cfg)
    pipe.unlink()  # the user's file is gone (or changed): the run keeps its copy
    resumed = run_files.with_run_augment(run, cfg)
    assert resumed.augment.preset == str(run / run_files.AUGMENT)
    assert not resumed.augment.vflip  # augment.yaml holds the flip already
    names = [type(t).__name__ for t in G.create_augment(resumed.augment).transforms]
    assert names == ["Rotate", "VerticalFlip"]
    # a run from before augment.yaml: its config as it is
    assert run_files.with_run_augment(tmp_path, cfg) is cfg
    assert run_files.read_augment(tmp_path) is None


def test_a_damaged_augment_yaml_is_a_run_error(tmp_path):
    (tmp_path / run_files.AUGMENT).write_text("transform: {__class_fullname__: Nope}\n")
    with pytest.raises(RunError, match="unknown albumentations transform"):
        run_files.read_augment(tmp_path)


def test_baseline_config_writes_no_augment(tmp_path):
    from visionfit.config import BaselineConfig

    run_files.write_augment(tmp_path, BaselineConfig())
    assert not (tmp_path / run_files.AUGMENT).exists()


def test_tune_space_takes_pipeline_files(tmp_path):
    pipe = _pipe(tmp_path)
    params = load_space({"augment": ["light", str(pipe)]}, RunConfig())
    assert params[0].key == "augment.preset" and params[0].choices == ["light", str(pipe)]
    bad = tmp_path / "bad.yaml"
    bad.write_text("transform: {__class_fullname__: Rotat}\n")
    with pytest.raises(VisionfitError, match="unknown albumentations transform 'Rotat'"):
        load_space({"augment": ["light", str(bad)]}, RunConfig())
    with pytest.raises(VisionfitError, match="file not found"):
        load_space({"augment": [str(tmp_path / "gone.yaml")]}, RunConfig())


def test_a_recipe_keeps_a_given_pipeline_file(tmp_path):
    pipe = str(_pipe(tmp_path))
    cfg = RunConfig.from_dict({"train": {"recipe": "default"}, "augment": {"preset": pipe}})
    resolved, notes = resolve_recipe(cfg, "scratch", 100)
    assert resolved.augment.preset == pipe
    assert any("augment.preset" in n for n in notes)
