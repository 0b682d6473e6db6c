"""Classification predictions as a table: image, pred, prob_<class>... (and error)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def decide(probs: np.ndarray, label_mode: str, classes: list[str], threshold) -> list[str]:
    """The predicted class (or labels, joined by spaces) of each row of probabilities, with the
    run's decision threshold for binary and multi-label models; "" for a NaN row."""
    if label_mode == "multilabel":  # one threshold per label, chosen on val / OOF
        per_label = np.broadcast_to(np.asarray(threshold, np.float64), (len(classes),))
    preds = []
    for row in probs:
        if np.isnan(row).any():
            preds.append("")
        elif label_mode == "multilabel":
            on = row >= per_label
            preds.append(" ".join(c for c, yes in zip(classes, on, strict=True) if yes))
        elif label_mode == "binary":
            preds.append(classes[int(row[1] >= float(threshold))])
        else:
            preds.append(classes[int(np.argmax(row))])
    return preds


def prediction_table(
    predictor, items: list, *, batch_size: int = 64, tta=None, workers: int = 0, **_
) -> pd.DataFrame:
    """A table with `image`, `pred` and `prob_<class>` columns (and `error` for bad files)."""
    probs, errors = predictor.predict_proba(items, batch_size=batch_size, tta=tta, workers=workers)
    meta = predictor.meta
    preds = decide(probs, meta["task"], predictor.classes, meta.get("threshold", 0.5))
    df = pd.DataFrame({"image": [_name(x, i) for i, x in enumerate(items)], "pred": preds})
    for j, c in enumerate(predictor.classes):
        df[f"prob_{c}"] = probs[:, j]
    if any(errors):
        df["error"] = errors
    return df


def _name(item, i: int) -> str:
    from pathlib import Path

    return str(item) if isinstance(item, (str, Path)) else f"<input {i}>"
