"""Whole configs: a run's (`RunConfig`, the shared sections plus the tasks' own) and the
classical baseline's (`BaselineConfig`), read from and written to YAML."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from visionfit.config import tasks as sections
from visionfit.config.sections import (
    SEED_MAX,
    AugmentConfig,
    CVConfig,
    DataConfig,
    FinetuneConfig,
    ModelConfig,
    TrackingConfig,
    TrainConfig,
    _Section,
)
from visionfit.config.values import first_error, read_yaml
from visionfit.errors import VisionfitError

if TYPE_CHECKING:
    from typing_extensions import Self


class _Document(_Section):
    """A whole config (a run's, a baseline's): read from and written to YAML."""

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Self:
        return cls.from_dict(read_yaml(path), origin=str(path))

    @classmethod
    def from_dict(cls, raw: dict, origin: str = "config") -> Self:
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise VisionfitError(f"invalid {origin}: {first_error(e)}") from None


class RunConfig(_Document):
    """The shared sections below, and a task's own section under its key (config/tasks.py):
    `cfg.segment` is segmentation's, validated, its defaults when config.yaml has none."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    augment: AugmentConfig = AugmentConfig()
    train: TrainConfig = TrainConfig()
    name: str | None = Field(
        None, description="Run name prefix (default: the model name; baseline: baseline-<model>)."
    )
    runs_dir: str = Field("runs", description="Where run directories are created.")
    cv: CVConfig = CVConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="before")
    @classmethod
    def _task_sections(cls, raw: object) -> object:
        if not isinstance(raw, dict):
            return raw
        out = dict(raw)
        for key, value in raw.items():
            if key in cls.model_fields:
                continue
            if sections.section_model(key) is not None:
                out[key] = sections.validate_section(key, value)
            elif not isinstance(value, dict):
                raise PydanticCustomError(
                    "unknown_key", "unknown config key '{key}'", {"key": str(key)}
                )
        return out

    def __getattr__(self, name: str):
        if not name.startswith("_") and sections.section_model(name) is not None:
            return self.section(name)
        return super().__getattr__(name)

    def section(self, key: str):
        """Task section `key`, validated (kept as given before its task registered: now)."""
        value = (self.model_extra or {}).get(key)
        if sections.section_model(key) is None:
            if value is None:
                raise VisionfitError(f"unknown config section {key!r}")
            return value
        if value is None:
            return sections.validate_section(key, None)
        try:
            valid = sections.validate_section(key, value)
        except PydanticCustomError as e:
            raise VisionfitError(f"invalid config: {e.message()}") from None
        self.model_extra[key] = valid
        return valid

    def with_section(self, key: str) -> RunConfig:
        """This config with task section `key` written out (its defaults when not given), so that
        config.yaml states it."""
        raw = self.model_dump(mode="json")
        raw.setdefault(key, sections.validate_section(key, None).model_dump(mode="json"))
        return RunConfig.from_dict(raw, origin="config")

    def with_overrides(self, overrides: dict[str, object]) -> RunConfig:
        """Apply dotted-key overrides such as {"train.lr": 0.01} and validate the result."""
        raw = self.model_dump(mode="json")
        for key, value in overrides.items():
            node = raw
            *parents, leaf = key.split(".")
            if parents and parents[0] not in raw and sections.section_model(parents[0]):
                raw[parents[0]] = sections.validate_section(parents[0], None).model_dump(
                    mode="json"
                )
            elif len(parents) == 1 and parents[0] not in self.model_fields:
                # a section whose task is not imported yet (the CLI imports no task): kept as
                # given, validated by its task or refused by check_sections when the run starts
                section = raw.setdefault(parents[0], {})
                if isinstance(section, dict) and sections.section_model(parents[0]) is None:
                    section[leaf] = value
                    continue
            for part in parents:
                if not isinstance(node.get(part), dict):
                    raise VisionfitError(f"unknown config key {key!r}")
                node = node[part]
            if leaf not in node:
                raise VisionfitError(f"unknown config key {key!r}")
            node[leaf] = value
        # a new task drops the old one's label mode (a label mode given wins over a label mode
        # spelt as the task: tasks/registry.py)
        if "data.task" in overrides and "data.label_mode" not in overrides:
            raw["data"]["label_mode"] = "auto"
        return RunConfig.from_dict(raw, origin="options")


sections.reserve(RunConfig.model_fields)


class BaselineConfig(_Document):
    """The classical baseline: scikit-learn on resized pixels or HOG features, same folds."""

    data: DataConfig = DataConfig()
    cv: CVConfig = CVConfig(folds=5)
    model: Literal["rf", "svm", "logreg", "knn"] = Field(
        "rf", description="rf (random forest) | svm (RBF, calibrated) | logreg | knn."
    )
    size: int = Field(32, ge=4, le=512, description="Images are resized to size x size.")
    features: Literal["pixels", "hog"] = Field(
        "pixels", description="pixels (flattened, standardised) | hog."
    )
    pca: int | None = Field(None, ge=1, description="Keep this many principal components.")
    class_weights: Literal["none", "auto"] = "none"
    threshold: str = Field("auto", description="as train.threshold")
    n_jobs: int = Field(-1, description="Parallel jobs (-1: all cores).")
    seed: int = Field(42, ge=0, le=SEED_MAX, description="Random seed 0..4294967295.")
    name: str | None = Field(None, description="run name prefix; default: baseline-<model>")
    runs_dir: str = "runs"


# `visionfit auto` starts from these instead of the model's defaults (a test split scored once at
# the end, the default recipe); --config, typed options and --set override them.
# Images are squashed with area resampling (what its candidates were measured with, and what the
# decode-once cache keeps), not cropped as a pretrained network's `--resize auto` would.
AUTO_DEFAULTS: dict[str, object] = {
    "data.test_fraction": 0.1,
    "train.recipe": "default",
    "augment.resize": "squash",
    "augment.interpolation": "area",
}
