"""Classification's recipe tables: from-scratch and pretrained networks (Task.recipes())."""

from __future__ import annotations

from visionfit.config.recipes import BEST, DEFAULT, FAST, Recipe

_SMOOTH = {"train.label_smoothing": 0.1}
_MIX = {"train.mixup": 0.2, "train.cutmix": 1.0}


def _family(family: str, weight_decay: float) -> list[Recipe]:
    wd = {"train.weight_decay": weight_decay}
    return [
        Recipe("fast", family, {**FAST, **_SMOOTH, **wd}, "one-cycle AdamW, light aug"),
        Recipe("default", family, {**DEFAULT, **_SMOOTH, **wd}, "+ medium aug, weight EMA"),
        Recipe(
            "best",
            family,
            {**BEST, **_SMOOTH, **_MIX, **wd},
            "cosine + warm-up, TrivialAugment, EMA, mixup/cutmix, hflip TTA",
        ),
    ]


RECIPES = [*_family("scratch", 1e-4), *_family("pretrained", 0.01)]
