"""A task's own config section plugs into RunConfig (config/tasks.py): validated, round-trips
through config.yaml, set by --set / with_overrides, a bad key is a one-line error."""

from __future__ import annotations

from typing import Literal

import pytest

from visionfit.config import RunConfig, TaskSection, check_sections, register_section
from visionfit.errors import VisionfitError


class DummySection(TaskSection):
    loss: Literal["mse", "huber", "l1"] = "mse"
    delta: float = 1.0


register_section("dummy", DummySection)


def test_a_section_validates_and_gives_its_defaults():
    assert RunConfig().dummy == DummySection()
    cfg = RunConfig.from_dict({"dummy": {"loss": "huber"}})
    assert isinstance(cfg.dummy, DummySection) and cfg.dummy.loss == "huber"


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"dummy": {"los": "l1"}}, "invalid config: dummy.los: Extra inputs"),
        ({"dummy": {"loss": "l2"}}, "invalid config: dummy.loss: Input should be"),
        ({"epochs": 3}, "invalid config: unknown config key 'epochs'"),
    ],
)
def test_a_bad_key_or_value_is_one_line_naming_it(raw, message):
    with pytest.raises(VisionfitError, match=message) as e:
        RunConfig.from_dict(raw)
    assert "\n" not in str(e.value)


def test_round_trip_through_config_yaml(tmp_path):
    cfg = RunConfig().with_section("dummy").with_overrides({"dummy.delta": 0.5})
    assert "dummy:\n  loss: mse\n  delta: 0.5" in cfg.to_yaml()
    (tmp_path / "config.yaml").write_text(cfg.to_yaml())
    again = RunConfig.from_yaml(tmp_path / "config.yaml")
    assert again.dummy.delta == 0.5 and again == cfg
    assert "dummy" not in RunConfig().to_yaml()  # only the sections given or resolved


def test_overrides_and_unknown_override_keys():
    assert RunConfig().with_overrides({"dummy.loss": "l1"}).dummy.loss == "l1"
    with pytest.raises(VisionfitError, match="unknown config key 'dummy.nope'"):
        RunConfig().with_overrides({"dummy.nope": 1})
    with pytest.raises(VisionfitError, match="dummy.loss: Input should be"):
        RunConfig().with_overrides({"dummy.loss": "l2"})


def test_a_section_no_task_registered_is_refused_when_the_task_resolves():
    cfg = RunConfig.from_dict({"notyet": {"a": 1}})  # its task may register later
    with pytest.raises(VisionfitError, match="unknown config section 'notyet'"):
        check_sections(cfg)
    with pytest.raises(ValueError, match="shared sections"):
        register_section("train", DummySection)


def test_set_on_the_command_line():
    from visionfit.cli.configure import parse_sets

    cfg = RunConfig().with_overrides(parse_sets(["dummy.loss=huber", "dummy.delta=2"]))
    assert (cfg.dummy.loss, cfg.dummy.delta) == ("huber", 2.0)


def test_segment_section_from_todays_config_yaml():
    import visionfit.tasks.registry  # noqa: F401 (registers segmentation's section)

    raw = {"data": {"task": "segment"}, "segment": {"arch": "fpn", "rle_format": "siim"}}
    cfg = RunConfig.from_dict(raw)
    assert type(cfg.segment).__module__ == "visionfit.tasks.segmentation.config"
    assert cfg.with_overrides({"segment.arch": "unet"}).segment.arch == "unet"
    with pytest.raises(VisionfitError, match="segment.rle_format"):
        RunConfig.from_dict({"segment": {"rle_format": "x"}})
