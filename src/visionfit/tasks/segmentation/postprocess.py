"""Binary mask post-processing: a probability threshold and a minimum component area.

A pixel is foreground when its probability is >= `threshold`; then every 8-connected component
smaller than `min_area` (a share of the image's pixels, so that it means the same at any
resolution) is removed. Both are tuned on the validation set to maximise the mean per-image dice
(tasks/seg_metrics.py) and stored in the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from visionfit.data.masks import IGNORE

THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.10, 0.951, 0.05))
MIN_AREAS = (0.0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05)


def postprocess_binary(
    prob: np.ndarray, threshold: float = 0.5, min_area: float = 0.0
) -> np.ndarray:
    """0/1 uint8 mask from an (H, W) foreground probability map."""
    mask = (prob >= threshold).astype(np.uint8)
    if min_area <= 0 or not mask.any():
        return mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area * mask.size
    keep[0] = False  # label 0 is the background
    return keep[labels].astype(np.uint8)


@dataclass
class TuneResult:
    threshold: float
    min_area: float
    dice: float  # mean per-image dice at the chosen values
    dice_default: float  # at threshold 0.5, min_area 0
    grid: list[dict] | None = None  # every (threshold, min_area, dice) tried

    def grid_frame(self):
        import pandas as pd

        return pd.DataFrame(self.grid or [], columns=["threshold", "min_area", "dice"])


def tune_postprocess(
    probs: np.ndarray,
    targets: np.ndarray,
    thresholds: tuple[float, ...] = THRESHOLDS,
    min_areas: tuple[float, ...] = MIN_AREAS,
) -> TuneResult:
    """Grid-search threshold x min_area for the best mean per-image dice.

    `probs`: (N, H, W) foreground probabilities (float, or uint8 meaning p * 255);
    `targets`: (N, H, W) 0/1 masks (IGNORE pixels count as neither: their probability is set
    to 0, so a component reaching into them counts only its scored pixels). Ties go to the
    smaller area, then the threshold nearest 0.5.
    """
    n = len(probs)
    scale = 255.0 if probs.dtype == np.uint8 else 1.0
    areas = np.asarray(min_areas, dtype=np.float64)
    # score[t, a] = sum over images of dice
    score = np.zeros((len(thresholds), len(areas)))
    for i in range(n):
        prob, truth = probs[i], targets[i] == 1
        ignored = targets[i] == IGNORE  # --ignore-index: neither predicted nor true
        if ignored.any():
            prob = np.where(ignored, 0, prob).astype(prob.dtype)
        t_sum = int(truth.sum())
        pixels = truth.size
        for ti, thr in enumerate(thresholds):
            mask = (prob >= thr * scale - 1e-9).astype(np.uint8)
            if not mask.any():
                score[ti] += 1.0 if t_sum == 0 else 0.0
                continue
            _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
            comp_area = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
            comp_inter = np.bincount(labels.ravel(), weights=truth.ravel(), minlength=len(stats))[
                1:
            ]
            keep = comp_area[None, :] >= areas[:, None] * pixels  # (A, C)
            p_sum = keep @ comp_area
            inter = keep @ comp_inter
            denom = p_sum + t_sum
            score[ti] += np.where(denom == 0, 1.0, 2 * inter / np.maximum(denom, 1))
    score /= max(n, 1)
    best = score.max()
    # prefer no area filter, then a threshold near 0.5, among near-ties
    order = sorted(
        ((ti, ai) for ti in range(len(thresholds)) for ai in range(len(areas))),
        key=lambda ta: (-int(score[ta] >= best - 1e-9), areas[ta[1]], abs(thresholds[ta[0]] - 0.5)),
    )
    ti, ai = order[0]
    default_t = min(range(len(thresholds)), key=lambda i: abs(thresholds[i] - 0.5))
    zero_a = int(np.argmin(areas))
    return TuneResult(
        threshold=float(thresholds[ti]),
        min_area=float(areas[ai]),
        dice=float(score[ti, ai]),
        dice_default=float(score[default_t, zero_a]),
        grid=[
            {"threshold": float(t), "min_area": float(a), "dice": float(score[i, j])}
            for i, t in enumerate(thresholds)
            for j, a in enumerate(areas)
        ],
    )


def foreground_probabilities(model, loader) -> tuple[np.ndarray, np.ndarray]:
    """Foreground probabilities (float16) and 0/1 targets at the training size."""
    import torch

    from visionfit.models.segmentation import forward_logits

    model.eval()
    device = next(model.parameters()).device
    probs, targets = [], []
    with torch.no_grad():
        for x, y in loader:
            p = torch.sigmoid(forward_logits(model, x.to(device)).float()[:, 0])
            probs.append(p.to(torch.float16).cpu().numpy())
            targets.append(y.numpy().astype(np.uint8))
    return np.concatenate(probs), np.concatenate(targets)
