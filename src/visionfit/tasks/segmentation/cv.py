"""Segmentation's part of cross-validation (engine/cv.py runs the folds).

- each fold's out-of-fold images are predicted at their original size with the fold's own
  post-processing (`fold_<k>/val_scores.csv`); ``oof_scores.csv`` stacks them;
- ``cv_summary.csv``: one row per fold, then ``mean`` and ``std`` (ddof=0) over the folds and
  ``oof`` (the mean over all images of their out-of-fold scores);
- the ensemble's post-processing (binary masks): threshold and minimum component area tuned on
  the pooled out-of-fold foreground probabilities of all folds (training size, stored as uint8)
  when they fit in `POOLED_TUNE_BYTES`, else the mean of the folds' own tuned values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from visionfit.fileio import atomic_write_csv
from visionfit.runs import files as run_files

# Pooled out-of-fold probabilities (uint8, one byte per pixel at the training size) above this
# size are not kept: the ensemble then uses the mean of the folds' tuned post-processing.
POOLED_TUNE_BYTES = 1 << 30

DICE_DEFINITION = (
    "per fold: mean over the fold's validation images of 2|P&T|/(|P|+|T|) at each "
    "image's original size after the fold's own post-processing (empty/empty = 1); "
    "oof: the same mean over all images, each scored by the fold that did not train on "
    "it (oof_scores.csv)"
)


@dataclass
class SegCVScores:
    folds: int
    per_fold: list[dict[str, float]]
    mean: dict[str, float]
    std: dict[str, float]
    oof: dict[str, float]
    postprocess: dict = field(default_factory=dict)
    main_metric: str = "dice"

    def headline(self) -> str:
        return (
            f"dice: {self.mean.get('dice', math.nan):.4f} ± {self.std.get('dice', math.nan):.4f} "
            f"(mean ± std over {self.folds} folds); out-of-fold mean per-image dice: "
            f"{self.oof.get('dice', math.nan):.4f}"
        )


class SegmentationCV:
    def __init__(self, cfg, data, df: pd.DataFrame):
        self.cfg, self.data, self.df = cfg, data, df
        k = data.extra["spec"].num_classes
        self.tune = k == 2 and cfg.segment.tune_postprocess
        size = cfg.augment.img_size
        self.pooled_ok = self.tune and len(df) * size * size <= POOLED_TUNE_BYTES
        self.pooled_probs: list[np.ndarray] = []
        self.pooled_targets: list[np.ndarray] = []
        self.per_fold: list[dict] = []
        self.fold_post: list[dict] = []
        self.tables: list[pd.DataFrame] = []

    def add(self, k: int, split, val_idx: np.ndarray, fold_dir) -> str:
        if self.pooled_ok:
            probs, targets = self._fold_probs(split, val_idx)
            self.pooled_probs.append(np.round(probs.astype(np.float32) * 255).astype(np.uint8))
            self.pooled_targets.append(targets)
        self.per_fold.append(
            {"fold": k, "n_val": len(val_idx), "best_epoch": split.best_epoch, **split.val_final}
        )
        self.fold_post.append(split.post)
        scores = pd.read_csv(fold_dir / "val_scores.csv")
        scores.insert(0, "fold", k)
        self.tables.append(scores)
        dice = split.val_final.get("dice", math.nan)
        return f"dice {dice:.4f} (original size, post-processed)"

    def _fold_probs(self, split, val_idx):
        from torch.utils.data import DataLoader

        from visionfit.data.datasets import ImageDataset
        from visionfit.data.transforms import eval_transforms
        from visionfit.tasks.segmentation.postprocess import foreground_probabilities
        from visionfit.tasks.segmentation.targets import MaskTargets

        meta, val_df = split.meta, self.df.iloc[val_idx]
        tf = eval_transforms(meta)
        targets = MaskTargets(val_df, self.data.extra["spec"], self.data.extra["rle"])
        ds = ImageDataset(val_df["image"], targets, tf, self.cfg.data.in_chans)
        loader = DataLoader(ds, batch_size=self.cfg.train.eval_batch_size, shuffle=False)
        return foreground_probabilities(split.module.model, loader)

    def finish(self, run_dir, fold: np.ndarray) -> tuple[SegCVScores, dict, dict]:
        oof = pd.concat(self.tables, ignore_index=True)
        atomic_write_csv(run_dir / "oof_scores.csv", oof)
        keys = [c for c in self.per_fold[0] if c not in ("fold", "n_val")]
        table = pd.DataFrame(self.per_fold)
        mean = {c: float(np.nanmean(table[c].astype(float))) for c in keys}
        std = {c: float(np.nanstd(table[c].astype(float))) for c in keys}
        oof_scores = {"dice": float(oof["dice"].mean()), "iou": float(oof["iou"].mean())}
        rows = [
            *({**r, "fold": str(r["fold"])} for r in self.per_fold),
            {"fold": "mean", "n_val": int(table["n_val"].sum()), **mean},
            {"fold": "std", **std},
            {"fold": "oof", "n_val": len(oof), **oof_scores},
        ]
        summary_table = pd.DataFrame(rows)
        summary_table["n_val"] = summary_table["n_val"].astype("Int64")  # empty on the std row
        atomic_write_csv(run_dir / run_files.CV_SUMMARY, summary_table)
        post = self._ensemble_postprocess()
        self.pooled_probs, self.pooled_targets = [], []
        scores = SegCVScores(len(self.per_fold), self.per_fold, mean, std, oof_scores, post)
        seg = self.cfg.segment
        summary = {
            "arch": seg.arch,
            "encoder": seg.encoder,
            "empty_mask_share": float(self.df["empty_mask"].mean()),
            "main_metric": "dice",
            "cv_mean": mean,
            "cv_std": std,
            "oof": oof_scores,
            "per_fold": self.per_fold,
            "postprocess": post,
            "skipped": [
                {"file": f, "reason": r}
                for f, r in zip(
                    self.data.skipped["image"], self.data.skipped["reason"], strict=True
                )
            ],
            "dice_definition": DICE_DEFINITION,
        }
        ensemble = {
            "threshold": post["threshold"],
            "min_area": post["min_area"],
            "postprocess": post,
        }
        return scores, ensemble, summary

    def _ensemble_postprocess(self) -> dict:
        from visionfit.tasks.segmentation.postprocess import tune_postprocess

        seg = self.cfg.segment
        if not self.tune:
            return {"threshold": seg.threshold, "min_area": seg.min_area, "method": "config"}
        if self.pooled_probs:
            tuned = tune_postprocess(
                np.concatenate(self.pooled_probs), np.concatenate(self.pooled_targets)
            )
            return {
                "threshold": tuned.threshold,
                "min_area": tuned.min_area,
                "method": "tuned on the pooled out-of-fold probabilities (training size)",
                "oof_dice_at_tuned": tuned.dice,
                "oof_dice_at_0.5": tuned.dice_default,
            }
        return {
            "threshold": float(np.mean([p["threshold"] for p in self.fold_post])),
            "min_area": float(np.mean([p["min_area"] for p in self.fold_post])),
            "method": "mean of the folds' tuned values (pooled probabilities too large to keep)",
        }
