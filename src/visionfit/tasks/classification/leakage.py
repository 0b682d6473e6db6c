"""The headline validation score of a set of images from their probabilities: what a run scores
again without its validation images that have a near-duplicate in training (engine/leakage.py).
"""

from __future__ import annotations

import numpy as np

from visionfit.tasks.classification.scoring import main_metric, score


def headline_score(
    mode: str,
    classes: list[str],
    images: list[str],
    true: np.ndarray,
    probs: np.ndarray,
    threshold: float | list[float] | None = None,
) -> float | None:
    """ROC AUC (binary, multi-label) or accuracy of `images` (their `true` targets and `probs`,
    one row each) as the run's headline is scored; None for no image, NaN where undefined (one
    class left)."""
    if len(images) != len(probs) or len(true) != len(probs):
        raise ValueError(f"{len(images)} images, {len(true)} targets, {len(probs)} predictions")
    if not len(images):
        return None
    scores = score(mode, classes, np.asarray(true), np.asarray(probs, np.float64), threshold)
    return float(scores[main_metric(mode)])
