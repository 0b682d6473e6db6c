"""Classification predictions: per input the decided class (or labels) and the probabilities;
rendered as the CSV table (image, pred, prob_<class>..., error), the server's JSON and the CLI's
summary line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.tasks.base import Predictions, PredictOutputs, ProbBatch

TOP_K = 5  # classes the server lists in `top`


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


def decisions(probs: np.ndarray, meta: dict) -> np.ndarray:
    """Binary: (N,) class-1 decisions; multi-label: (N, C) per-label decisions, at the run's
    threshold(s), as `decide` makes them."""
    threshold = np.asarray(meta.get("threshold", 0.5), np.float64)
    if meta["task"] == "multilabel":
        return probs >= np.broadcast_to(threshold, (probs.shape[1],))
    return probs[:, 1] >= float(threshold)


@dataclass
class ClassPredictions(Predictions):
    """Probabilities (N, C), NaN rows for unreadable inputs, and the decided classes."""

    view = "classes"

    shared_fields = ("classes",)

    items: list
    names: list[str]  # the CSV's `image` column
    classes: list[str]
    probs: np.ndarray
    preds: list[str]
    errors: list[str]
    sizes: list[tuple[int, int]] | None = None  # (height, width) of each input

    @classmethod
    def from_batch(cls, predictor, batch: ProbBatch) -> ClassPredictions:
        probs = np.array(batch.probs)  # a copy, in the predictor's own precision
        if not np.issubdtype(probs.dtype, np.floating):
            probs = probs.astype(np.float64)
        probs[[bool(e) for e in batch.errors]] = np.nan
        meta = predictor.meta
        classes = list(predictor.classes)
        return cls(
            items=list(batch.items),
            names=[_name(x, batch.start + i) for i, x in enumerate(batch.items)],
            classes=classes,
            probs=probs,
            preds=decide(probs, meta["task"], classes, meta.get("threshold", 0.5)),
            errors=list(batch.errors),
            sizes=list(batch.sizes) if batch.sizes is not None else None,
        )

    @classmethod
    def empty(cls, classes: list[str]) -> ClassPredictions:
        return cls([], [], list(classes), np.zeros((0, len(classes))), [], [], [])

    def to_frame(self) -> pd.DataFrame:
        """`image`, `pred`, `prob_<class>`... and, when an input could not be read, `error`."""
        df = pd.DataFrame({"image": self.names, "pred": self.preds})
        probs = self.probs.reshape(len(self.names), len(self.classes))
        for j, c in enumerate(self.classes):
            df[f"prob_{c}"] = probs[:, j]
        if any(self.errors):
            df["error"] = self.errors
        return df

    def to_json(self, i: int, top_k: int = TOP_K) -> dict:
        """/predict's answer: the decision, the `top_k` classes and every probability."""
        probs = {c: float(p) for c, p in zip(self.classes, self.probs[i], strict=True)}
        top = sorted(probs.items(), key=lambda kv: -kv[1])[:top_k]
        out: dict = {
            "view": self.view,
            "pred": self.preds[i],
            "top": [{"class": c, "prob": p} for c, p in top],
            "probs": probs,
        }
        if self.sizes is not None:
            h, w = self.sizes[i]
            out["size"] = [int(w), int(h)]
        return out

    def console_lines(self, outputs: PredictOutputs) -> list[str]:
        # "" is also a multi-label prediction (no label above its threshold): count errors by
        # reason, not by an empty prediction
        counts: dict[str, int] = {}
        for pred, err in zip(self.preds, self.errors, strict=True):
            if not err:
                counts[pred] = counts.get(pred, 0) + 1
        ordered = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
        return [f"wrote {len(self)} predictions to {outputs.out}; per class: {ordered}"]


def _name(item, i: int) -> str:
    return str(item) if isinstance(item, (str, Path)) else f"<input {i}>"


def export_info(meta: dict) -> dict:
    """The shape of an exported graph's probabilities and how to read them (export.json)."""
    rule = {
        "binary": "class 1 if probabilities[:, 1] >= threshold",
        "multilabel": "every label whose probability >= its threshold",
    }.get(meta["task"], "argmax over classes")
    t = meta.get("temperature")
    link = "sigmoid" if meta["task"] in ("binary", "multilabel") else "softmax"
    return {
        "output_shape": ["batch", len(meta["classes"])],
        "postprocess": rule,
        "temperature": float(t) if t else 1.0,
        "calibration": (
            f"temperature scaling inside the graph: {link}(logits / {float(t):.6g})"
            if t and float(t) != 1.0
            else "none (temperature 1)"
        ),
    }


def decision_agreement(meta: dict, ref, got) -> tuple[str, float]:
    """Binary and multi-label: the share of (image x label) decisions at the run's thresholds
    that agree between two probability arrays."""
    same = decisions(ref, meta) == decisions(got, meta)
    return ("decisions" if meta["task"] == "binary" else "label decisions"), float(same.mean())
