"""Segmentation's recipe table (Task.recipes()): no label smoothing or mixup, medium aug at best."""

from __future__ import annotations

from visionfit.config.recipes import BEST, DEFAULT, FAST, Recipe

RECIPES = [
    Recipe("fast", "segmentation", FAST, "one-cycle AdamW, light aug"),
    Recipe("default", "segmentation", DEFAULT, "+ medium aug, weight EMA"),
    Recipe(
        "best",
        "segmentation",
        {**BEST, "augment.preset": "medium"},
        "cosine + warm-up, medium aug, EMA, hflip TTA",
    ),
]
