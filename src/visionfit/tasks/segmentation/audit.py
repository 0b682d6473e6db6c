"""Segmentation's `visionfit audit`: per-image label quality, worst first.

The quality of an image's given mask is how well the out-of-fold prediction (a CV run's
`oof_scores.csv`: each image predicted by the fold that did not train on it) or the validation
prediction (a single run's `val_scores.csv`: validation images only) agrees with it: dice (and
IoU). Flagged: the images whose dice lies below the lower Tukey fence of all images' dice
(Q1 - 1.5·IQR) and below 0.5; label_issues.csv lists every image, worst first. A low dice
can be a wrong mask or a hard image: look at them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from visionfit.errors import RunError
from visionfit.runs import files as run_files
from visionfit.tasks.base import AuditArgs, AuditFindings

METHOD = (
    "per-image dice of the given mask against the predicted one; flagged: below "
    "min(0.5, Q1 - 1.5 IQR) of all images' dice"
)


def dice_cut(dice: np.ndarray) -> float:
    """The flagging cut: the lower Tukey fence of the dice values, at most 0.5."""
    q1, q3 = np.percentile(dice, [25, 75])
    return float(min(0.5, q1 - 1.5 * (q3 - q1)))


def audit_segmentation(args: AuditArgs) -> AuditFindings:
    path = args.run.path
    table, source = run_files.read_table(path, "oof_scores.csv"), "out-of-fold"
    if table is None:
        table, source = run_files.read_table(path, "val_scores.csv"), "validation"
    if table is None or not {"image", "dice"} <= set(table.columns):
        raise RunError(f"{path} has no oof_scores.csv or val_scores.csv: nothing to audit")
    dice = pd.to_numeric(table["dice"], errors="coerce")
    table = table[dice.notna()].reset_index(drop=True)
    dice = dice[dice.notna()].to_numpy(float)
    if not len(dice):
        raise RunError(f"{path}'s per-image scores are empty: nothing to audit")
    cut = dice_cut(dice)
    bad = np.argsort(dice, kind="stable")  # every image, worst first
    pick = table.iloc[bad]
    issues = pd.DataFrame(
        {
            "image": pick["image"].to_numpy(),
            "given": [f"mask ({_px(v)} px)" for v in pick.get("true_pixels", [""] * len(pick))],
            "suggested": [
                f"predicted ({_px(v)} px)" for v in pick.get("pred_pixels", [""] * len(pick))
            ],
            "self_confidence": dice[bad],
            "flagged": dice[bad] < cut,
            "iou": pd.to_numeric(pick.get("iou", np.nan), errors="coerce"),
        }
    ).reset_index(drop=True)
    notes = [
        f"flagged: dice below {cut:.3f}"
        if cut > 0
        else f"the dice spread is wide (lower fence {cut:.3f}): no image is an outlier"
    ]
    if source == "validation":
        notes.append("single run: only its validation images were audited")
    return AuditFindings(
        issues=issues,
        audited=len(table),
        source=source,
        method=METHOD,
        score="dice",
        notes=notes,
        pairs=[],
    )


def _px(v) -> str:
    try:
        return str(int(float(v)))
    except (TypeError, ValueError):
        return "?"
