"""Regression predictions: per input one value on the target's scale.

`RegressionPredictions` renders itself as the CSV table (image, prediction[, error]), the
server's JSON ({view: "value", prediction, target, ...}) and the CLI's summary line;
`scored_predictions` predicts a finished run's validation / test images and scores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.tasks.base import Predictions, PredictOutputs, ProbBatch, split_file
from visionfit.tasks.regression.metrics import score


@dataclass
class RegressionPredictions(Predictions):
    """Values (N,) on the target's scale, NaN for unreadable inputs."""

    view = "value"

    shared_fields = ("target",)

    items: list
    names: list[str]  # the CSV's `image` column
    target: str  # the CSV column the run was trained to predict
    values: np.ndarray
    errors: list[str]
    sizes: list[tuple[int, int]] | None = None  # (height, width) of each input

    @classmethod
    def from_batch(cls, predictor, batch: ProbBatch) -> RegressionPredictions:
        values = np.array(batch.probs, dtype=np.float64).reshape(len(batch.items), -1)
        values = values[:, 0] if values.shape[1] else np.zeros(len(batch.items))
        values[[bool(e) for e in batch.errors]] = np.nan
        classes = list(getattr(predictor, "classes", []) or [])
        return cls(
            items=list(batch.items),
            names=[_name(x, batch.start + i) for i, x in enumerate(batch.items)],
            target=classes[0] if classes else "value",
            values=values,
            errors=list(batch.errors),
            sizes=list(batch.sizes) if batch.sizes is not None else None,
        )

    def to_frame(self) -> pd.DataFrame:
        """`image`, `prediction` (the target's scale) and, when an input is unreadable, `error`."""
        df = pd.DataFrame({"image": self.names, "prediction": self.values})
        if any(self.errors):
            df["error"] = self.errors
        return df

    def to_json(self, i: int) -> dict:
        """/predict's answer. `pred` (the value as text) and an empty `top` let a page written
        for classes show the value too."""
        value = float(self.values[i])
        out: dict = {
            "view": self.view,
            "target": self.target,
            "prediction": value,
            "pred": f"{self.target} = {value:.4g}",
            "top": [],
        }
        if self.sizes is not None:
            h, w = self.sizes[i]
            out["size"] = [int(w), int(h)]
        return out

    def console_lines(self, outputs: PredictOutputs) -> list[str]:
        ok = self.values[np.isfinite(self.values)]
        if not len(ok):
            return [f"wrote {len(self)} predictions to {outputs.out}; none could be read"]
        return [
            f"wrote {len(self)} predictions of {self.target!r} to {outputs.out}; "
            f"mean {ok.mean():.4g}, min {ok.min():.4g}, max {ok.max():.4g}"
            + (f"; {self.n_failed} unreadable" if self.n_failed else "")
        ]


def scored_predictions(predictor, df: pd.DataFrame, out_dir: Path, split: str, *, tta=None):
    """`df`'s images predicted as `visionfit predict` would; writes <split>_predictions.csv
    (image, target, prediction, residual[, error]); returns r2, mae, rmse."""
    from visionfit.runs.rundir import atomic_write_csv

    if df is None or not len(df):
        return {}
    preds = predictor.predictions(list(df["image"]), tta=tta)
    values = preds.values
    y = df["value"].to_numpy(np.float64)
    table = pd.DataFrame(
        {"image": df["image"].to_numpy(), "target": y, "prediction": values,
         "residual": values - y}
    )  # fmt: skip
    if any(preds.errors):
        table["error"] = preds.errors
    atomic_write_csv(Path(out_dir) / split_file(split, "predictions.csv"), table)
    return score(y, values)


def _name(item, i: int) -> str:
    return str(item) if isinstance(item, (str, Path)) else f"<input {i}>"
