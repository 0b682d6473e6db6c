"""Prediction from a run directory: `visionfit.load(run_dir).predict(...)` and the CLI's predict."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from visionfit.data.io import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_image, is_image_file
from visionfit.data.transforms import create_transforms
from visionfit.engine.bundle import load_bundle_model
from visionfit.errors import DataError
from visionfit.tasks.classification import probabilities


class _PredictDataset(Dataset):
    """Decodes each input; an unreadable file gives a zero image and its reason, not a crash."""

    def __init__(
        self,
        items: Sequence,
        transform,
        in_chans: int,
        img_size: int,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        self.items, self.transform = list(items), transform
        self.in_chans, self.img_size, self.max_pixels = in_chans, img_size, max_pixels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        try:
            arr = decode_image(self.items[i], in_chans=self.in_chans, max_pixels=self.max_pixels)
        except ImageDecodeError as e:
            return torch.zeros(self.in_chans, self.img_size, self.img_size), e.reason
        x = self.transform(image=arr)["image"]
        if x.ndim == 2:
            x = x.unsqueeze(0)
        return x, ""


class Predictor:
    """A trained model rebuilt from its bundle, with the preprocessing it was trained with.

    >>> p = visionfit.load("runs/simple_cnn-20260101-120000")
    >>> p.predict(["a.png", "b.png"])  # DataFrame: image, pred, prob_<class>...
    """

    def __init__(self, model: torch.nn.Module, meta: dict, run_dir: Path | None = None):
        self.model = model.eval()
        self.meta = meta
        self.run_dir = run_dir
        self.classes: list[str] = list(meta["classes"])
        self.task: str = meta["task"]
        self.transform = create_transforms(
            "none", meta["img_size"], meta["mean"], meta["std"], train=False
        )
        # The pixel cap the run was trained with (`--max-pixels`); images above it are refused.
        self.max_pixels = int(meta.get("max_pixels", DEFAULT_MAX_PIXELS))

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> Predictor:
        model, meta = load_bundle_model(run_dir)
        return cls(model, meta, Path(run_dir))

    @torch.no_grad()
    def predict_proba(
        self, inputs: Iterable, *, batch_size: int = 64, tta: bool = False, workers: int = 0
    ) -> tuple[np.ndarray, list[str]]:
        """Class probabilities (N, C) and, per input, why it could not be read ("" if fine)."""
        items = _as_items(inputs)
        ds = _PredictDataset(
            items, self.transform, self.meta["in_chans"], self.meta["img_size"], self.max_pixels
        )
        loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers)
        probs, errors = [], []
        for x, err in loader:
            p = self._proba_batch(x)
            if tta:  # horizontal flip; its prediction needs no undoing for classification
                p = (p + self._proba_batch(torch.flip(x, dims=[3]))) / 2
            probs.append(p.cpu().numpy())
            errors.extend(err)
        out = np.concatenate(probs) if probs else np.zeros((0, len(self.classes)), np.float32)
        out[[bool(e) for e in errors]] = np.nan
        return out, list(errors)

    def _proba_batch(self, x: torch.Tensor) -> torch.Tensor:
        return probabilities(self.model(x), self.task)

    def predict(
        self, inputs: Iterable, *, batch_size: int = 64, tta: bool = False, workers: int = 0
    ) -> pd.DataFrame:
        """A table with `image`, `pred` and `prob_<class>` columns (and `error` for bad files)."""
        items = _as_items(inputs)
        probs, errors = self.predict_proba(items, batch_size=batch_size, tta=tta, workers=workers)
        preds = []
        threshold = self.meta.get("threshold", 0.5)
        if self.task == "multilabel":  # one threshold per label, chosen on val / OOF
            per_label = np.broadcast_to(np.asarray(threshold, np.float64), (len(self.classes),))
        else:
            threshold = float(threshold)
        for row, err in zip(probs, errors, strict=True):
            if err:
                preds.append("")
            elif self.task == "multilabel":
                on = row >= per_label
                preds.append(" ".join(c for c, yes in zip(self.classes, on, strict=True) if yes))
            elif self.task == "binary":
                preds.append(self.classes[int(row[1] >= threshold)])
            else:
                preds.append(self.classes[int(np.argmax(row))])
        df = pd.DataFrame({"image": [_name(x, i) for i, x in enumerate(items)], "pred": preds})
        for j, c in enumerate(self.classes):
            df[f"prob_{c}"] = probs[:, j]
        if any(errors):
            df["error"] = errors
        return df


def _as_items(inputs) -> list:
    if isinstance(inputs, (str, Path, Image.Image, np.ndarray)):
        return [inputs]
    return list(inputs)


def _name(item, i: int) -> str:
    return str(item) if isinstance(item, (str, Path)) else f"<input {i}>"


def load(run_dir: str | Path, *, backend: str = "torch") -> Predictor:
    """Load a finished run for prediction (reads model.json + model.safetensors; no pickle).

    A segmentation run gives a `visionfit.engine.segment.SegPredictor`; a cross-validation run
    gives an ensemble that averages its fold models' probabilities. `backend="onnx"` computes
    the probabilities with onnxruntime on `RUN/export/onnx/model.onnx` (exported when missing).
    """
    from visionfit.engine.onnx_backend import use_backend

    return use_backend(_load_torch(run_dir), backend)


def _load_torch(run_dir: str | Path) -> Predictor:
    from visionfit.engine.bundle import read_bundle_meta
    from visionfit.engine.ensemble import EnsemblePredictor, is_ensemble_dir, read_run_meta

    if is_ensemble_dir(run_dir):
        if read_run_meta(run_dir).get("task") == "segment":  # a segmentation CV run
            from visionfit.engine.seg_cv import load_seg_ensemble

            return load_seg_ensemble(run_dir)
        return EnsemblePredictor.from_run_dir(run_dir)
    if read_bundle_meta(run_dir).get("task") == "segment":
        from visionfit.engine.segment import SegPredictor

        return SegPredictor.from_run_dir(run_dir)
    return Predictor.from_run_dir(run_dir)


def expand_inputs(
    inputs: Sequence[str | Path], *, image_col: str = "image", root: str | Path | None = None
) -> list[Path]:
    """Files as given, folders searched recursively for images, CSVs read from `image_col`."""
    paths: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if not p.exists():
            raise DataError(f"input not found: {p}")
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and is_image_file(q))
            if not found:
                raise DataError(f"no images found in folder {p}")
            paths.extend(found)
        elif p.suffix.lower() == ".csv":
            df = pd.read_csv(p, dtype=str, keep_default_na=False)
            if image_col not in df.columns:
                raise DataError(
                    f"column {image_col!r} not in {p.name}; columns are: {', '.join(df.columns)} "
                    "(choose one with --image-col)"
                )
            base = Path(root) if root else p.parent
            paths.extend(q if q.is_absolute() else base / q for q in map(Path, df[image_col]))
        else:
            paths.append(p)
    if not paths:
        raise DataError("no inputs to predict")
    return paths
