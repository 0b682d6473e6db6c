"""Regression's config section (`regress:` in config.yaml): the loss and Huber's delta.

The section is the task's own model. Until config.py accepts a task's section as data it does
not know (the task-plugins work), `RunConfig` has no `regress` key: `regress_section(cfg)` then
gives the defaults (MSE), and a `regress` attribute or mapping on the config, once there, is read
and validated here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from visionfit.errors import VisionfitError

SECTION = "regress"
LOSSES = ("mse", "huber", "l1")


class RegressConfig(BaseModel):
    """`regress.loss`: mse | huber | l1 on the standardised target; `regress.huber_delta`:
    where Huber's loss turns from quadratic to linear (in standard deviations of the target)."""

    model_config = ConfigDict(extra="forbid")

    loss: Literal["mse", "huber", "l1"] = Field("mse", description="mse | huber | l1")
    huber_delta: float = Field(1.0, gt=0, description="Huber's delta, in target std units.")


def regress_section(cfg) -> RegressConfig:
    """The run config's `regress` section, validated; the defaults when the config has none."""
    raw = getattr(cfg, SECTION, None)
    if raw is None:
        return RegressConfig()
    if isinstance(raw, RegressConfig):
        return raw
    if isinstance(raw, BaseModel):
        raw = raw.model_dump()
    try:
        return RegressConfig.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        raise VisionfitError(f"invalid {SECTION}.{where}: {err.get('msg')}") from None
