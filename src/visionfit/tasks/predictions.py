"""Typed predictions: what a task's `predictions(predictor, batch)` returns and what the CLI,
the server and the Python API read (CSV rows, JSON, console lines, files). tasks/base.py
re-exports them next to the protocol that names them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd


@dataclass
class PredictOutputs:
    """Where predictions go besides the returned object: the CSV `visionfit predict` writes and
    the files a task may add. A task refuses (in `Predictions.prepare`) what it cannot write."""

    out: Path | None = None  # the CSV (None from the Python API)
    masks_dir: Path | None = None  # segmentation: one mask PNG per image
    overlays_dir: Path | None = None  # segmentation: the image with its mask drawn over it
    truth: Path | None = None  # true targets to score the predictions against
    # segmentation: write `out` in a dataset format (voc: a folder of palette PNGs; rle: an
    # ImageId,ClassId,EncodedPixels CSV) instead of the default CSV + mask PNGs
    format: str | None = None

    @property
    def scores_csv(self) -> Path | None:
        """Per-input scores against `truth`, next to the CSV."""
        if self.out is None or self.truth is None:
            return None
        return self.out.with_name(self.out.stem + "_scores.csv")


@dataclass
class ProbBatch:
    """One batch from the Predictor: its inputs (from position `start` of the whole input list),
    probabilities (N, ...), why each input could not be read ("" if fine), and each input's
    original (height, width) (None where a predictor does not know it)."""

    items: Sequence
    start: int
    probs: Any  # torch.Tensor or np.ndarray; rows of unreadable inputs are meaningless
    errors: list[str]
    sizes: list[tuple[int, int]] | None = None


class Predictions:
    """A task's predictions for a list of inputs, rendering itself for every consumer:
    `to_frame()` / `rows()` (the CSV `visionfit predict` writes), `to_json(i)` (what the
    server's /predict answers for input i; its `view` tells the page what to draw),
    `console_lines(outputs)` (the CLI's summary), `write_files(outputs)` (the task's own
    files), `score(truth)` (scores against true targets, where the task supports it).

    Predictors stream: they make one object per batch and `concat` them; `light()` drops what
    a long prediction must not keep in memory (e.g. full-size masks) once files are written."""

    view: ClassVar[str] = "table"  # what a client draws: "classes", "mask", ...
    batch_size: ClassVar[int] = 64  # the default batch of `Predictor.predictions`
    score_note: ClassVar[str] = ""  # how `score` defines its numbers (printed under them)
    shared_fields: ClassVar[tuple[str, ...]] = ()  # the same for every input (see `concat`)

    items: list
    errors: list[str]

    def __len__(self) -> int:
        return len(self.items)

    @property
    def n_failed(self) -> int:
        return sum(1 for e in self.errors if e)

    @classmethod
    def prepare(cls, outputs: PredictOutputs, items: Sequence, where: str) -> PredictOutputs:
        """Check the output options before predicting (refuse what this task cannot write,
        refuse to overwrite) and resolve their defaults; `where` names the run in messages."""
        from visionfit.errors import VisionfitError

        extra = [
            flag
            for flag, value in (
                ("--masks-dir", outputs.masks_dir),
                ("--overlays-dir", outputs.overlays_dir),
                ("--truth", outputs.truth),
                ("--format", outputs.format),
            )
            if value is not None
        ]
        if extra:
            raise VisionfitError(
                f"{', '.join(extra)}: {where} predicts {cls.view}, it does not write or score "
                "these (they are for segmentation runs)"
            )
        return outputs

    @classmethod
    def concat(cls, parts: Sequence[Predictions]) -> Predictions:
        """The parts joined in input order: per-input lists chained and arrays concatenated;
        an optional per-input field (None in any part, e.g. dropped masks) is None; the fields
        named in `shared_fields` (the classes, the target's name) come from the first part."""
        if len(parts) == 1:
            return parts[0]
        joined = {}
        for f in dataclasses.fields(cls):
            values = [getattr(p, f.name) for p in parts]
            if f.name in cls.shared_fields:
                joined[f.name] = values[0]
            elif any(v is None for v in values):
                joined[f.name] = None
            elif isinstance(values[0], np.ndarray):
                joined[f.name] = np.concatenate(values)
            else:
                joined[f.name] = [x for v in values for x in v]
        return cls(**joined)

    def light(self) -> Predictions:
        return self

    def write_files(self, outputs: PredictOutputs) -> None:
        """The task's files of this batch (nothing by default: the CSV is the caller's)."""

    def to_frame(self) -> pd.DataFrame:
        raise NotImplementedError

    def table(self, outputs: PredictOutputs) -> pd.DataFrame | None:
        """What `visionfit predict` writes to --out: `to_frame()`, or (a task's --format) that
        format's table, or None where the format wrote its own files."""
        return self.to_frame()

    def rows(self) -> list[dict]:
        return self.to_frame().to_dict("records")

    def to_json(self, i: int) -> dict:
        raise NotImplementedError

    def console_lines(self, outputs: PredictOutputs) -> list[str]:
        return [f"wrote {len(self)} predictions to {outputs.out}"]

    def score(self, truth: Path) -> tuple[dict[str, float], pd.DataFrame]:
        from visionfit.errors import VisionfitError

        raise VisionfitError(f"scoring against {truth} is not supported for {self.view}")
