"""Validation predictions for a classification run, the table every classification plot reads.

CV and baseline runs have them on disk (`oof.csv`: each image predicted by the fold that did not
train on it). A single run keeps no validation predictions, so its validation split (from
`splits.csv`) is predicted once with the run's own model (the report context's predictor).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from visionfit.plots.sections import ReportContext
from visionfit.runs import files as run_files
from visionfit.runs.files import SPLITS

# Tasks whose label column is one class name per image (confusion matrix, ROC, ... apply).
SINGLE_LABEL = ("binary", "multiclass")


def validation_predictions(ctx: ReportContext) -> pd.DataFrame | None:
    """image, label, pred, prob_<class>... for every validation (or out-of-fold) image, or None
    when the run has none to offer (multi-label / soft labels, no val split)."""
    run = ctx.run
    if "predictions" not in run.cache:
        run.cache["predictions"] = _load(ctx)
    return run.cache["predictions"]


def shown_predictions(ctx: ReportContext) -> pd.DataFrame | None:
    """`validation_predictions`, or None when there are none or no rows (nothing to plot)."""
    df = validation_predictions(ctx)
    return None if df is None or df.empty else df


def probability_matrix(df: pd.DataFrame, classes: list[str]) -> np.ndarray:
    return df[[f"prob_{c}" for c in classes]].to_numpy(np.float64)


def label_indices(df: pd.DataFrame, classes: list[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index.get(str(v), -1) for v in df["label"]], dtype=int)


def _load(ctx: ReportContext) -> pd.DataFrame | None:
    run = ctx.run
    if run.task not in SINGLE_LABEL or not run.classes:
        return None
    oof = run.read_csv(run_files.OOF)
    if oof is not None:
        df = oof
    else:
        df = _predict_val_split(ctx)
        if df is None:
            return None
    needed = ["image", "label", "pred", *(f"prob_{c}" for c in run.classes)]
    if any(c not in df.columns for c in needed):
        return None
    df = df.copy()
    df["label"] = df["label"].astype(str)
    df["pred"] = df["pred"].astype(str)
    df = df[df["label"].isin(run.classes)]
    return df.dropna(subset=needed[3:]).reset_index(drop=True)


def _predict_val_split(ctx: ReportContext) -> pd.DataFrame | None:
    run = ctx.run
    splits = run.read_csv(SPLITS)
    if splits is None or "split" not in splits or not run.has_model():
        return None
    val = splits[splits["split"] != "train"].reset_index(drop=True)
    if val.empty:
        return None
    pred = ctx.predictor().predict(list(val["image"]))
    if "error" in pred:
        keep = pred["error"].fillna("") == ""
        pred, val = pred[keep].reset_index(drop=True), val[keep].reset_index(drop=True)
    out = pd.DataFrame({"image": val["image"], "label": val["label"], "pred": pred["pred"]})
    for c in run.classes:
        out[f"prob_{c}"] = pred[f"prob_{c}"].to_numpy()
    return out
