"""Prediction with a baseline run: `visionfit.load(BASELINE_RUN).predict(...)`.

New images are decoded and turned into features by the code the run was trained with, and get
the mean of the fold pipelines' probabilities, like a network's fold ensemble; thresholds are
the ones chosen on the out-of-fold predictions. The files are described in baseline_store.

>>> p = visionfit.load("runs/baseline-rf-20260101-120000")
>>> p.predict(["a.png"])  # DataFrame: image, pred, prob_<class>...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from visionfit.data.io import DEFAULT_MAX_PIXELS, ImageDecodeError
from visionfit.data.pixel_features import array_features, resized_image
from visionfit.errors import RunError
from visionfit.inference.baseline_store import (
    MODEL_FILE,
    REFIT_MEMBER,
    load_pipeline,
    read_baseline_meta,
)
from visionfit.inference.predict import Predicting, as_items
from visionfit.runs.kind import model_kind
from visionfit.tasks.base import ProbBatch
from visionfit.tasks.registry import task_for_meta


def is_baseline_run(run_dir: str | Path) -> bool:
    """True for a `visionfit baseline` run (or its refit/), including ones too old to predict."""
    return model_kind(run_dir) == "baseline"


class BaselinePredictor(Predicting):
    """The mean of a baseline run's fold pipelines' probabilities, with the same `predict()` /
    `predict_proba()` as a network's Predictor. Images are decoded and turned into features by
    the code the run was trained with.

    Rows, thresholds and the error column come from classification's typed predictions
    (`predictions()`, `predict()` from `Predicting`), made from this class's `predict_proba()`.

    >>> p = BaselinePredictor.from_run_dir("runs/baseline-rf-20260101-120000", member="fold_2")
    """

    def __init__(self, pipelines: list[Pipeline], meta: dict, run_dir: Path | None = None):
        self.pipelines = pipelines
        self.meta = meta
        self.run_dir = run_dir
        self.classes: list[str] = list(meta["classes"])
        self.task: str = meta["task"]
        self.task_impl = task_for_meta(meta)
        self.max_pixels = int(meta.get("max_pixels", DEFAULT_MAX_PIXELS))

    @classmethod
    def from_run_dir(cls, run_dir: str | Path, member: str | None = None) -> BaselinePredictor:
        """All fold pipelines (their mean), or one `member`: ``fold_<k>`` or ``refit``."""
        run_dir = Path(run_dir)
        meta = read_baseline_meta(run_dir)
        if meta is None:
            raise RunError(
                f"{run_dir} is a baseline run from before baseline runs kept their models (it has "
                "no model.json): rerun visionfit baseline on the same data to predict with it"
            )
        names = list(meta.get("members") or [])
        if not names:
            raise RunError(f"{run_dir / 'model.json'} lists no fold models")
        if member is not None:
            choices = names + ([REFIT_MEMBER] if meta.get("refit") else [])
            if member not in choices:
                raise RunError(
                    f"{run_dir} has no member {member!r}; choose one of {', '.join(choices)}"
                )
            names = [member]
            meta = {**meta, "members": names}
        pipelines = [load_pipeline(run_dir / n / MODEL_FILE, str(meta.get("model"))) for n in names]
        for name, pipe in zip(names, pipelines, strict=True):
            if getattr(pipe, "n_features_in_", None) != meta.get("n_features"):
                raise RunError(
                    f"{run_dir / name / MODEL_FILE} takes {getattr(pipe, 'n_features_in_', '?')} "
                    f"features, model.json says {meta.get('n_features')}: the run was changed"
                )
        return cls(pipelines, meta, run_dir)

    def predict_proba(
        self, inputs: Iterable, *, batch_size: int = 64, tta: bool = False, workers: int = 0
    ) -> tuple[np.ndarray, list[str]]:
        """Class probabilities (N, C) and, per input, why it could not be read ("" if fine).

        `tta` averages with the horizontally flipped image; `workers` > 1 extracts features in
        that many threads. Rows of unreadable inputs are NaN.
        """
        items = as_items(inputs)
        out = np.full((len(items), len(self.classes)), np.nan)
        errors: list[str] = []
        for start in range(0, len(items), max(1, batch_size)):
            chunk = items[start : start + max(1, batch_size)]
            views, errs = self._features(chunk, tta, workers)
            errors.extend(errs)
            ok = np.flatnonzero([not e for e in errs])
            if len(ok):
                probs = [self._mean_proba(np.stack([v[i] for i in ok])) for v in views]
                out[start + ok] = np.mean(probs, axis=0)
        return out, errors

    def _prob_batches(
        self, items: list, *, batch_size: int, tta, workers: int, progress: bool
    ) -> Iterator[ProbBatch]:
        step = max(1, batch_size)
        for start in range(0, len(items), step):
            chunk = items[start : start + step]
            probs, errors = self.predict_proba(chunk, batch_size=step, tta=tta, workers=workers)
            yield ProbBatch(chunk, start, probs, errors)

    def _features(self, chunk: list, tta: bool, workers: int) -> tuple[list[list], list[str]]:
        """Per view (the image, then its mirror with tta), each input's features or None."""
        m = self.meta

        def one(item):
            try:
                arr = resized_image(item, int(m["size"]), int(m["in_chans"]), self.max_pixels)
            except ImageDecodeError as e:
                return [None] * (2 if tta else 1), e.reason
            arrs = [arr, arr[:, ::-1]] if tta else [arr]
            return [array_features(np.ascontiguousarray(a), m["features"]) for a in arrs], ""

        if workers > 1:
            from joblib import Parallel, delayed

            # Threads: decoding, resizing and HOG run in C, as in training.
            rows = Parallel(n_jobs=workers, prefer="threads")(delayed(one)(i) for i in chunk)
        else:
            rows = [one(i) for i in chunk]
        views = [[r[0][v] for r in rows] for v in range(2 if tta else 1)]
        return views, [r[1] for r in rows]

    def _mean_proba(self, x: np.ndarray) -> np.ndarray:
        hooks = task_for_meta(self.meta).baseline()
        return np.mean([hooks.proba(p, x, self.meta) for p in self.pipelines], axis=0)
