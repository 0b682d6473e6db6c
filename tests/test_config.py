"""The config's own conversions: what the command line types is also valid in YAML and --set."""

from __future__ import annotations

import pytest

from visionfit.config import RunConfig
from visionfit.errors import VisionfitError
from visionfit.tasks.segmentation import config as _segment_section  # noqa: F401 - registers segment:


def test_zero_means_off_for_patience_and_checkpoint_minutes():
    cfg = RunConfig.from_dict({"train": {"patience": 0, "checkpoint_minutes": 0}})
    assert cfg.train.patience is None and cfg.train.checkpoint_minutes is None
    assert RunConfig().with_overrides({"train.patience": "0"}).train.patience is None
    assert RunConfig().with_overrides({"train.patience": 3}).train.patience == 3
    with pytest.raises(VisionfitError, match="train.patience"):
        RunConfig.from_dict({"train": {"patience": -1}})


def test_comma_separated_names_become_lists_and_lists_stay():
    cfg = RunConfig().with_overrides(
        {"data.label_cols": " a,b , c", "segment.class_names": "bg,road"}
    )
    assert cfg.data.label_cols == ["a", "b", "c"]
    assert cfg.segment.class_names == ["bg", "road"]
    assert RunConfig.from_dict({"data": {"label_cols": ["x"]}}).data.label_cols == ["x"]
    with pytest.raises(VisionfitError, match="needs column names"):
        RunConfig().with_overrides({"data.label_cols": " , "})


def test_colour_map_text_and_json_file(tmp_path):
    from_text = RunConfig().with_overrides({"segment.colour_map": "0,0,0=0;#ff0000=1"})
    assert from_text.segment.colour_map == {"#000000": 0, "#ff0000": 1}
    file = tmp_path / "colours.json"
    file.write_text('{"0,0,0": 0, "255,0,0": 1}')
    from_file = RunConfig().with_overrides({"segment.colour_map": str(file)})
    assert from_file.segment.colour_map == from_text.segment.colour_map
    # a resolved config (a run's config.yaml) reads back unchanged
    path = tmp_path / "config.yaml"
    path.write_text(from_text.to_yaml())
    assert RunConfig.from_yaml(path) == from_text


def test_task_and_label_mode_are_one_choice_with_the_old_spelling_kept():
    """The config holds plain names; the registry says which task and label mode they mean."""
    from visionfit.tasks.registry import task_for_config

    def both(data: dict, **overrides) -> tuple[str, str]:
        cfg = RunConfig.from_dict({"data": data}).with_overrides(overrides)
        task = task_for_config(cfg)
        return task.name, task.label_mode_for(cfg.data.task, cfg.data.label_mode)

    assert both({"task": "binary"}) == ("classification", "binary")  # the older spelling
    assert both({"task": "classify", "label_mode": "soft"}) == ("classification", "soft")
    assert both({"label_mode": "multilabel"}) == ("classification", "multilabel")
    assert both({"task": "segment"}) == ("segmentation", "auto")
    assert both({}) == ("classification", "auto")
    # the one overridden last replaces the other (a run's config.yaml, then a flag)
    assert both({"task": "binary"}, **{"data.label_mode": "soft"}) == ("classification", "soft")
    assert both({"task": "binary"}, **{"data.task": "multiclass"}) == (
        "classification",
        "multiclass",
    )
    assert both({"label_mode": "soft"}, **{"data.task": "segment"}) == ("segmentation", "auto")
    with pytest.raises(VisionfitError, match="unknown --task 'segmnet'; choose from classify"):
        both({"task": "segmnet"})
    with pytest.raises(VisionfitError, match="unknown --label-mode 'sfot'"):
        both({"label_mode": "sfot"})
