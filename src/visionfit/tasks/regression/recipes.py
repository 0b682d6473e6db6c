"""Candidates `visionfit auto` times for regression, and the recipe family.

Recipes fit the networks, not the loss: regression uses the classifiers' "scratch" and
"pretrained" recipes (engine/recipes.py); `Regression.resolve_config` then turns off what a
recipe sets for classes only (label smoothing, mixup / cutmix), so config.yaml states what ran.
"""

from __future__ import annotations


def recipe_family(cfg) -> str:
    return "pretrained" if cfg.model.pretrained or cfg.model.weights else "scratch"


def auto_candidates(native: int, n_images: int) -> list[dict]:
    """From-scratch networks at the images' own size (16..64 px, a multiple of 4); the wider
    ResNet only when there is data to fit it."""
    size = max(8, int(round(min(max(native, 16), 64) / 4)) * 4)
    nets = [_candidate("simple_cnn", size, 1.0, 8.0), _candidate("resnet9_16", size, 1.04, 8.0)]
    if n_images >= 2000:
        nets.append(_candidate("resnet9_32", size, 1.06, 12.0))
    return nets


def _candidate(model: str, size: int, quality: float, epochs_scale: float) -> dict:
    return {
        "name": f"{model}-{size}px",
        "overrides": {"model.name": model, "model.pretrained": False, "augment.img_size": size},
        "quality": quality,
        "epochs_scale": epochs_scale,
    }
