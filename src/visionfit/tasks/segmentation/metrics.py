"""Segmentation scores, defined once and used for epoch metrics, tuning and the final report.

Definitions (K classes including background 0; "foreground classes" are 1..K-1):

* per image i and foreground class c, with P = predicted pixels of c, T = true pixels of c:
  dice_ic = 2|P & T| / (|P| + |T|),  iou_ic = |P & T| / |P | T|; pixels of an ignore value
  (`--ignore-index`) are in neither P nor T, nor in pixel_acc;
  an image where both P and T are empty scores 1 (the Kaggle / SIIM convention).
* `dice` / `iou`: the mean over images of dice_ic, then the mean over foreground classes
  (binary: the mean per-image dice of the one foreground class). This is the headline number.
* `dice_global` / `iou_global`: all pixels of all images pooled per class (2 sum|P&T| /
  (sum|P| + sum|T|)), then the mean over foreground classes.
* `pixel_acc`: the share of all pixels whose predicted class is right (background included).
* `dice_<class>`, `iou_<class>`: per foreground class (multi-class only).
* binary only, when the set has empty and non-empty masks: `auroc_image`, the ROC AUC of "the
  mask is non-empty" scored by the image's largest pixel probability; `empty_correct`, the share of
  empty masks predicted empty; `nonempty_detected`, the share of non-empty masks predicted
  non-empty.

torchmetrics' DiceScore leaves empty/empty pairs out (NaN) instead of scoring 1, which is why the
counting is done here; the image-level AUROC uses scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch


def image_stats(
    pred: torch.Tensor, true: torch.Tensor, num_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    """Per-image counts, shape (N, K-1, 3): |P & T|, |P|, |T| per foreground class.

    `pred`, `true`: (N, H, W) integer class maps; pixels whose true value is `ignore_index` are
    left out (neither predicted nor true).
    """
    n = pred.shape[0]
    p = pred.reshape(n, -1)
    t = true.reshape(n, -1)
    if ignore_index is not None:
        p = torch.where(t == ignore_index, torch.full_like(p, -1), p)
    out = torch.empty(n, num_classes - 1, 3, dtype=torch.int64, device=pred.device)
    for c in range(1, num_classes):
        pc, tc = p == c, t == c
        out[:, c - 1, 0] = (pc & tc).sum(1)
        out[:, c - 1, 1] = pc.sum(1)
        out[:, c - 1, 2] = tc.sum(1)
    return out.cpu().numpy()


def scored_pixels(pred, true, ignore_index: int | None = None) -> tuple[int, int]:
    """(right, scored) pixel counts for pixel accuracy; `ignore_index` pixels are not scored.
    Torch tensors or numpy arrays."""
    if ignore_index is None:
        return int((pred == true).sum()), int(true.numel() if hasattr(true, "numel") else true.size)
    valid = true != ignore_index
    return int(((pred == true) & valid).sum()), int(valid.sum())


def per_image_dice(stats: np.ndarray) -> np.ndarray:
    """(N, K-1) dice per image and class; empty/empty scores 1."""
    inter, ps, ts = stats[..., 0], stats[..., 1], stats[..., 2]
    denom = ps + ts
    return np.where(denom == 0, 1.0, 2.0 * inter / np.maximum(denom, 1))


def per_image_iou(stats: np.ndarray) -> np.ndarray:
    inter, ps, ts = stats[..., 0], stats[..., 1], stats[..., 2]
    union = ps + ts - inter
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


@dataclass
class SegScores:
    """Accumulates per-image counts over batches; `compute()` gives the metrics above."""

    num_classes: int
    class_names: Sequence[str] | None = None
    ignore_index: int | None = None  # true pixels of this value are not scored
    stats: list[np.ndarray] = field(default_factory=list)
    correct: int = 0
    pixels: int = 0
    max_prob: list[np.ndarray] = field(default_factory=list)

    def update(
        self, pred: torch.Tensor, true: torch.Tensor, max_prob: torch.Tensor | None = None
    ) -> None:
        self.stats.append(image_stats(pred, true, self.num_classes, self.ignore_index))
        correct, pixels = scored_pixels(pred, true, self.ignore_index)
        self.correct += correct
        self.pixels += pixels
        if max_prob is not None:
            self.max_prob.append(max_prob.detach().float().cpu().numpy().reshape(-1))

    def reset(self) -> None:
        self.stats, self.max_prob, self.correct, self.pixels = [], [], 0, 0

    def gather(self) -> None:
        """Pool the counts of every process of a distributed run (no-op in one process)."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        parts: list = [None] * dist.get_world_size()
        dist.all_gather_object(parts, (self.stats, self.max_prob, self.correct, self.pixels))
        self.stats = [s for p in parts for s in p[0]]
        self.max_prob = [m for p in parts for m in p[1]]
        self.correct = sum(p[2] for p in parts)
        self.pixels = sum(p[3] for p in parts)

    def compute(self) -> dict[str, float]:
        if not self.stats:
            return {}
        stats = np.concatenate(self.stats)
        probs = np.concatenate(self.max_prob) if self.max_prob else None
        return summarise(stats, self.correct, self.pixels, self.class_names, probs)


def summarise(
    stats: np.ndarray,
    correct: int,
    pixels: int,
    class_names: Sequence[str] | None = None,
    max_prob: np.ndarray | None = None,
) -> dict[str, float]:
    """The metric dictionary from per-image counts (see the module docstring)."""
    dice = per_image_dice(stats)  # (N, K-1)
    iou = per_image_iou(stats)
    inter, ps, ts = stats[..., 0].sum(0), stats[..., 1].sum(0), stats[..., 2].sum(0)
    gdice = np.where(ps + ts == 0, 1.0, 2.0 * inter / np.maximum(ps + ts, 1))
    union = ps + ts - inter
    giou = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
    out = {
        "dice": float(dice.mean(0).mean()),
        "iou": float(iou.mean(0).mean()),
        "dice_global": float(gdice.mean()),
        "iou_global": float(giou.mean()),
        "pixel_acc": float(correct / max(pixels, 1)),
    }
    k = stats.shape[1]
    if k > 1:
        names = list(class_names)[1:] if class_names else [str(c) for c in range(1, k + 1)]
        for j, name in enumerate(names):
            out[f"dice_{name}"] = float(dice[:, j].mean())
            out[f"iou_{name}"] = float(iou[:, j].mean())
    if k == 1:
        true_any = stats[:, 0, 2] > 0
        pred_any = stats[:, 0, 1] > 0
        if (~true_any).any():
            out["empty_correct"] = float((~pred_any[~true_any]).mean())
        if true_any.any():
            out["nonempty_detected"] = float(pred_any[true_any].mean())
        if max_prob is not None and true_any.any() and (~true_any).any():
            from sklearn.metrics import roc_auc_score

            out["auroc_image"] = float(roc_auc_score(true_any, max_prob))
    return out
