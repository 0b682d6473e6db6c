"""Regression's `visionfit audit`: targets far from their out-of-fold prediction, worst first.

A CV run's `oof.csv` (each image predicted by the fold that did not train on it), else a single
run's `val_predictions.csv` (validation images only). Each residual (prediction - target) is
measured against the spread of all residuals: z = |r - median(r)| / (1.4826 · MAD); flagged:
z > 3 (a robust outlier rule); label_issues.csv lists every image, worst first. A large z
can be a wrong target or a hard image.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from visionfit.errors import RunError
from visionfit.runs import files as run_files
from visionfit.tasks.base import AuditArgs, AuditFindings

Z_CUT = 3.0
METHOD = "robust z of the residual, |r - median| / (1.4826 MAD); flagged: z > 3"


def robust_z(residual: np.ndarray) -> np.ndarray:
    r = np.asarray(residual, float)
    centre = np.median(r)
    mad = 1.4826 * np.median(np.abs(r - centre))
    if mad <= 0:
        mad = float(np.std(r)) or 1.0
    return np.abs(r - centre) / mad


def audit_regression(args: AuditArgs) -> AuditFindings:
    path = args.run.path
    table, source = run_files.read_table(path, run_files.OOF), "out-of-fold"
    if table is None:
        table, source = run_files.read_table(path, "val_predictions.csv"), "validation"
    if table is None or not {"image", "target", "prediction"} <= set(table.columns):
        raise RunError(f"{path} has no oof.csv or val_predictions.csv: nothing to audit")
    y = pd.to_numeric(table["target"], errors="coerce")
    p = pd.to_numeric(table["prediction"], errors="coerce")
    ok = (y.notna() & p.notna()).to_numpy()
    table, y, p = table[ok].reset_index(drop=True), y[ok].to_numpy(), p[ok].to_numpy()
    if not len(y):
        raise RunError(f"{path}'s predictions are empty: nothing to audit")
    z = robust_z(p - y)
    bad = np.argsort(-z, kind="stable")  # every image, worst first
    issues = pd.DataFrame(
        {
            "image": table["image"].to_numpy()[bad],
            "given": [f"{v:.4g}" for v in y[bad]],
            "suggested": [f"{v:.4g}" for v in p[bad]],
            "self_confidence": np.full(len(bad), np.nan),
            "flagged": z[bad] > Z_CUT,
            "z": z[bad],
        }
    )
    notes = ["regression: self_confidence is empty; z ranks the rows"]
    if source == "validation":
        notes.append("single run: only its validation images were audited")
    return AuditFindings(
        issues=issues, audited=len(y), source=source, method=METHOD, score="z", notes=notes
    )
