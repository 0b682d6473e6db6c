"""Classification's `visionfit audit`: likely wrong labels by confident learning (label_issues.py).

The probabilities audited: a CV (or baseline) run's `oof.csv`, every image predicted by the fold
that did not train on it; a single run's validation split only (its `val_predictions.csv` when
the run kept one, else predicted with the run's own bundle). Label modes:

- binary / multiclass: confident learning over the classes;
- soft labels: the given class is the arg-max of each soft label (oof.csv's `label`);
- multi-label: each label is its own binary problem (present / absent), audited on its own;
  an issue is one (image, label) pair, given "cat: yes" and suggested "cat: no" or back.

The rows: first the examples confident learning flags (`flagged` True), lowest self-confidence
first; then the other examples whose arg-max prediction differs from the given label (the model
disagrees, yet the estimated noise rate left them unflagged), again lowest self-confidence first,
so that a reader going down the list past the flagged rows still sees the likeliest next.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from visionfit.errors import RunError
from visionfit.runs import files as run_files
from visionfit.tasks.base import AuditArgs, AuditFindings
from visionfit.tasks.classification.label_issues import find_label_issues

VAL_PREDICTIONS = "val_predictions.csv"
METHOD = "confident learning (Northcutt, Jiang & Chuang, JAIR 2021)"
ISSUE_COLUMNS = ["image", "given", "suggested", "self_confidence", "flagged"]


def audit_classification(args: AuditArgs, label_mode: str) -> AuditFindings:
    run = args.run
    classes = list(run.classes)
    if len(classes) < 2:
        raise RunError(f"{run.path} has no classes.json with two or more classes to audit")
    table, source = _predictions(args, classes)
    probs = _probabilities(table, classes)
    notes = []
    if source == "validation":
        notes.append(
            "single run: only its validation images were audited (train with --cv K to audit "
            "every image from out-of-fold predictions)"
        )
    if label_mode == "multilabel":
        issues = _multilabel(table, classes, probs)
    else:
        if label_mode == "soft":
            notes.append("soft labels: the given class is the arg-max of each soft label")
        issues = _single_label(table, classes, probs)
    shown = issues[issues["flagged"]]
    pairs = Counter(zip(shown["given"], shown["suggested"], strict=True)).most_common()
    return AuditFindings(
        issues=issues,
        audited=len(table),
        source=source,
        method=METHOD + (", one binary problem per label" if label_mode == "multilabel" else ""),
        notes=notes,
        pairs=[(g, s, n) for (g, s), n in pairs],
    )


def _predictions(args: AuditArgs, classes: list[str]) -> tuple[pd.DataFrame, str]:
    """(image, label, prob_<class>... table, "out-of-fold" | "validation")."""
    path = args.run.path
    oof = run_files.read_table(path, run_files.OOF)
    if oof is not None:
        return oof, "out-of-fold"
    kept = run_files.read_table(path, VAL_PREDICTIONS)
    if kept is not None and "label" in kept:
        return kept, "validation"
    splits = run_files.read_splits(path)
    if splits is None or "split" not in splits:
        raise RunError(
            f"{path} has neither {run_files.OOF} (a CV run) nor {run_files.SPLITS} with a "
            "validation split: nothing to audit"
        )
    val = splits[splits["split"] == "val"].reset_index(drop=True)
    if val.empty:
        raise RunError(f"{path} has no validation images (splits.csv): nothing to audit")
    pred = args.predict(list(val["image"]))
    ok = (
        pred["error"].fillna("").astype(str) == ""
        if "error" in pred
        else pd.Series(True, pred.index)
    )
    out = pd.DataFrame({"image": val["image"], "label": val["label"]})[ok.to_numpy()]
    for c in classes:
        out[f"prob_{c}"] = pred.loc[ok, f"prob_{c}"].to_numpy()
    return out.reset_index(drop=True), "validation"


def _probabilities(table: pd.DataFrame, classes: list[str]) -> np.ndarray:
    cols = [f"prob_{c}" for c in classes]
    missing = [c for c in cols if c not in table]
    if missing or "label" not in table or "image" not in table:
        raise RunError(f"the run's predictions lack columns {missing or ['image', 'label']}")
    try:
        probs = table[cols].astype(float).to_numpy()
    except ValueError:
        raise RunError("the run's predictions hold probabilities that are not numbers") from None
    if not np.isfinite(probs).all():
        raise RunError("the run's predictions have rows without probabilities: retrain the run")
    return probs


def _single_label(table: pd.DataFrame, classes: list[str], probs: np.ndarray) -> pd.DataFrame:
    index = {c: i for i, c in enumerate(classes)}
    labels = table["label"].astype(str).map(index)
    if labels.isna().any():
        unknown = sorted(set(table.loc[labels.isna(), "label"].astype(str)))[:5]
        raise RunError(f"the run's predictions have labels not in classes.json: {unknown}")
    y = labels.to_numpy(int)
    found = find_label_issues(y, probs)
    i = ranked_rows(found, probs.argmax(axis=1) != y)
    return pd.DataFrame(
        {
            "image": table["image"].to_numpy()[i],
            "given": [classes[k] for k in y[i]],
            "suggested": [classes[k] for k in found.suggested[i]],
            "self_confidence": found.self_confidence[i],
            "flagged": np.isin(i, found.flagged),
        },
        columns=ISSUE_COLUMNS,
    )


def ranked_rows(found, disagree: np.ndarray) -> np.ndarray:
    """The flagged rows (lowest self-confidence first), then the unflagged rows where the model
    disagrees with the given label, lowest self-confidence first."""
    rest = np.flatnonzero(disagree & ~np.isin(np.arange(len(disagree)), found.flagged))
    rest = rest[np.argsort(found.self_confidence[rest], kind="stable")]
    return np.concatenate([found.flagged, rest]).astype(int)


def _multilabel(table: pd.DataFrame, classes: list[str], probs: np.ndarray) -> pd.DataFrame:
    given_sets = [set(str(v).split()) for v in table["label"]]
    frames = []
    for j, c in enumerate(classes):
        on = np.array([c in s for s in given_sets], dtype=int)
        if on.min() == on.max():
            continue  # every image (or none) has it: nothing to contrast
        p = np.clip(probs[:, j], 0.0, 1.0)
        found = find_label_issues(on, np.stack([1 - p, p], axis=1))
        i = ranked_rows(found, (p >= 0.5).astype(int) != on)
        word = np.array([f"{c}: no", f"{c}: yes"])
        frames.append(
            pd.DataFrame(
                {
                    "image": table["image"].to_numpy()[i],
                    "given": word[on[i]],
                    "suggested": word[1 - on[i]],
                    "self_confidence": found.self_confidence[i],
                    "flagged": np.isin(i, found.flagged),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out["_order"] = ~out["flagged"]
    out = out.sort_values(["_order", "self_confidence"], kind="stable")
    return out.drop(columns="_order").reset_index(drop=True)
