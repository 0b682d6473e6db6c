"""Regression's config section (`regress:` in config.yaml, `--set regress.loss=huber`): the loss
and Huber's delta. It plugs into the run config like segmentation's (visionfit.config.tasks):
importable without torch, validated when read, written resolved into the run's config.yaml."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from visionfit.config import TaskSection, register_section

SECTION = "regress"
LOSSES = ("mse", "huber", "l1")


class RegressConfig(TaskSection):
    """`regress.loss`: mse | huber | l1 on the standardised target; `regress.huber_delta`:
    where Huber's loss turns from quadratic to linear (in standard deviations of the target)."""

    loss: Literal["mse", "huber", "l1"] = Field("mse", description="mse | huber | l1")
    huber_delta: float = Field(1.0, gt=0, description="Huber's delta, in target std units.")


register_section(SECTION, RegressConfig)


def regress_section(cfg) -> RegressConfig:
    """The run config's `regress` section, validated (its defaults when the config has none)."""
    return getattr(cfg, SECTION)
