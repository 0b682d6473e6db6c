"""Classification's sections of MODEL_CARD.md (reports/model_card.py): the most-confused classes
and the calibration, from the predictions the run wrote (oof.csv or val_predictions.csv)."""

from __future__ import annotations

import pandas as pd

from visionfit.runs import files
from visionfit.tasks.classification.plots import most_confused
from visionfit.tasks.classification.report_data import SINGLE_LABEL


def card_sections(run) -> list[tuple[str, str]]:
    out = []
    confused = _most_confused(run)
    if confused:
        out.append(("Most confused classes", confused))
    calibration = _calibration(run.summary)
    if calibration:
        out.append(("Calibration", calibration))
    return out


def _predictions(run) -> tuple[pd.DataFrame | None, str]:
    for name, what in ((files.OOF, "out-of-fold"), (files.VAL_PREDICTIONS, "validation")):
        df = run.read_csv(name)
        if df is not None and {"label", "pred"} <= set(df.columns):
            return df, f"{what} predictions, `{name}`"
    return None, ""


def _most_confused(run) -> str | None:
    if run.task not in SINGLE_LABEL or len(run.classes) < 2:
        return None
    df, source = _predictions(run)
    if df is None:
        return None
    df = df.assign(label=df["label"].astype(str), pred=df["pred"].astype(str))
    pairs = most_confused(df, run.classes, n=5)
    if not pairs:
        return f"No image is misclassified ({len(df)} images, {source})."
    rows = [f"| {t} | {p} | {n} |" for t, p, n in pairs]
    head = f"The commonest mistakes among {len(df)} images ({source}):"
    return "\n".join([head, "", "| true | predicted as | images |", "| --- | --- | --- |", *rows])


def _calibration(s) -> str | None:
    ece = s.get("ece")
    if not isinstance(ece, (int, float)):
        return None
    where = (s.get("calibration") or {}).get("measured_on", "validation")
    text = (
        f"Expected calibration error (ECE, 15 bins) of the network's probabilities on the "
        f"{where} images: {ece:.4f}."
    )
    t, after = s.get("temperature"), s.get("ece_calibrated")
    if isinstance(t, (int, float)) and isinstance(after, (int, float)):
        text += (
            f" Temperature scaling (T = {t:.3f}, applied by predict, serve and export) brings it "
            f"to {after:.4f} on the same images, an optimistic figure."
        )
    return text
