"""A task's own config section plugs in here; the config knows no task.

A task declares its section as a pydantic model deriving from `TaskSection` and a top-level key
(`Task.config_section = ("segment", SegmentConfig)`; tasks/registry.py registers it, and so may
the task's config module when it is imported, which is how the CLI knows the fields at start-up
without importing torch). In config.yaml the section is a top-level mapping (`segment:`), in
`--set` and `with_overrides` a dotted key (`segment.arch=fpn`).

A RunConfig validates a registered section when it is built (an unknown key or a bad value is a
one-line error naming `segment.KEY`); a mapping under a key no task has registered yet is kept
as given and validated when that task registers it and the section is read, or refused by
`check_sections` (tasks/registry.py `task_for_config`) when no task claims it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from visionfit.config.values import first_error
from visionfit.errors import VisionfitError

_SECTIONS: dict[str, type[BaseModel]] = {}
_SHARED: set[str] = set()  # the whole configs' own fields (config/run.py `reserve`)


class TaskSection(BaseModel):
    """The base of a task's config section: unknown keys refused, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def register_section(key: str, model: type[BaseModel]) -> type[BaseModel]:
    """Make `key:` in a run config a `model` section; the same pair twice is a no-op, a key
    another model or a shared section already uses is refused."""
    if key in _SHARED:
        raise ValueError(f"config section {key!r} is one of the shared sections")
    if _SECTIONS.get(key, model) is not model:
        raise ValueError(f"config section {key!r} is already registered by {_SECTIONS[key]}")
    _SECTIONS[key] = model
    return model


def reserve(names) -> None:
    """Keys of a whole config's own fields: no task section may take them."""
    _SHARED.update(names)


def section_model(key: str) -> type[BaseModel] | None:
    return _SECTIONS.get(key)


def section_keys() -> list[str]:
    return sorted(_SECTIONS)


def validate_section(key: str, value: object) -> BaseModel:
    """`value` (a mapping, or None for the defaults) as the section registered for `key`; inside
    pydantic validation an error names `key.FIELD`."""
    model = _SECTIONS[key]
    if isinstance(value, model):
        return value
    try:
        return model.model_validate({} if value is None else value)
    except ValidationError as e:
        raise PydanticCustomError(
            "task_section", "{msg}", {"msg": f"{key}.{first_error(e)}"}
        ) from None


def check_sections(cfg) -> None:
    """Every section of `cfg` beyond the shared ones belongs to a registered task: validated now
    (a section kept as given before its task registered), or refused in one line."""
    for key in list(cfg.model_extra or {}):
        if key not in _SECTIONS:
            known = ", ".join([*cfg.model_fields, *section_keys()])
            raise VisionfitError(f"unknown config section {key!r}; known: {known}")
        getattr(cfg, key)
