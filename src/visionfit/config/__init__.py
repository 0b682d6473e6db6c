"""Typed run configuration: data, model, augmentation and training options, YAML in and out.

A run's `config.yaml` is the fully resolved config; `visionfit train --config config.yaml` reruns
it. The shared sections are in sections.py, whole configs in run.py, a task's own section plugs
in through tasks.py, recipe tables are typed by recipes.py.
"""

from __future__ import annotations

from visionfit.config.recipes import Recipe
from visionfit.config.run import AUTO_DEFAULTS, BaselineConfig, RunConfig
from visionfit.config.sections import (
    AugmentConfig,
    CVConfig,
    CVKind,
    DataConfig,
    FinetuneConfig,
    ModelConfig,
    TrackingConfig,
    TrainConfig,
)
from visionfit.config.tasks import TaskSection, check_sections, register_section, section_keys
from visionfit.config.values import (  # noqa: I001
    first_error,
    load_yaml_text,
    parse_duration,
    read_yaml,
    split_names,
)

__all__ = [
    "AUTO_DEFAULTS",
    "AugmentConfig",
    "BaselineConfig",
    "CVConfig",
    "CVKind",
    "DataConfig",
    "FinetuneConfig",
    "ModelConfig",
    "Recipe",
    "RunConfig",
    "TaskSection",
    "TrackingConfig",
    "TrainConfig",
    "check_sections",
    "first_error",
    "load_yaml_text",
    "parse_duration",
    "read_yaml",
    "register_section",
    "section_keys",
    "split_names",
]
