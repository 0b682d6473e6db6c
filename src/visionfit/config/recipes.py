"""The type of a training recipe and the shared building blocks tasks compose their tables from.

A task declares its recipe tables in tasks/<task>/recipes.py and returns them from
`Task.recipes()`; engine/recipes.py resolves `--recipe NAME` for the task's network family
(`Task.recipe_family`). Where the values come from: see engine/recipes.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RECIPE_NAMES = ("fast", "default", "best")


@dataclass(frozen=True)
class Recipe:
    """Config values (dotted keys) that `--recipe NAME` fills for one network family."""

    name: str
    family: str
    overrides: dict[str, object]
    about: str = ""
    notes: tuple[str, ...] = field(default=())


COMMON = {"train.opt": "adamw", "train.patience": None, "train.lr_find": True}
FAST = {**COMMON, "train.sched": "onecycle", "augment.preset": "light"}
DEFAULT = {**FAST, "augment.preset": "medium", "train.ema": True}
BEST = {
    **DEFAULT,
    "train.sched": "cosine",
    "train.warmup_epochs": 1.0,
    "augment.preset": "trivial",
    "train.tta": "hflip",
}
