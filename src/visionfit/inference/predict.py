"""The one Predictor: decode -> batch -> test-time flips -> mean over fold models -> the task
turns each batch of probabilities into its typed predictions (tasks/<task>/outputs.py), which
render themselves as CSV rows, JSON and console lines. `visionfit.load(run_dir)` builds it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from visionfit.data.io import DEFAULT_MAX_PIXELS, ImageDecodeError, decode_image, is_image_file
from visionfit.data.transforms import eval_transforms
from visionfit.errors import DataError
from visionfit.progress import progress as show_progress
from visionfit.tasks.base import Predictions, PredictOutputs, ProbBatch, Task
from visionfit.tasks.registry import task_for_meta
from visionfit.usercsv import read_user_csv

TTA_MODES = ("none", "hflip", "hvflip")


class _PredictDataset(Dataset):
    """Decodes each input; an unreadable file gives a zero image and its reason, not a crash."""

    def __init__(
        self,
        items: Sequence,
        transform,
        in_chans: int,
        img_size: int,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        window: str | None = None,
    ):
        self.items, self.transform, self.window = list(items), transform, window
        self.in_chans, self.img_size, self.max_pixels = in_chans, img_size, max_pixels

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        try:
            arr = decode_image(
                self.items[i],
                in_chans=self.in_chans,
                max_pixels=self.max_pixels,
                window=self.window,
            )
        except ImageDecodeError as e:
            return torch.zeros(self.in_chans, self.img_size, self.img_size), 0, 0, e.reason
        x = self.transform(image=arr)["image"]
        if x.ndim == 2:
            x = x.unsqueeze(0)
        return x, arr.shape[0], arr.shape[1], ""


class MeanProbabilities(nn.Module):
    """The mean of several networks' probabilities (a fold ensemble; one network is fine too)."""

    def __init__(self, models: Sequence[nn.Module], task: Task, meta: dict):
        super().__init__()
        self.members = nn.ModuleList(models)
        self.task, self.meta = task, meta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = [self.task.probabilities(m, x, self.meta) for m in self.members]
        return torch.stack(probs).mean(dim=0)


class Predicting:
    """What every predictor (a network's, the scikit-learn baseline's) offers on top of its
    `_prob_batches`: the task's typed predictions, streamed or whole, and the CSV table."""

    task_impl: Task
    run_dir: Path | None
    classes: list[str]

    def _prob_batches(
        self, items: list, *, batch_size: int, tta, workers: int, progress: bool
    ) -> Iterator[ProbBatch]:
        raise NotImplementedError

    def iter_predictions(
        self,
        inputs: Iterable,
        *,
        batch_size: int | None = None,
        tta: bool | str | None = None,
        workers: int = 0,
        progress: bool = False,
    ) -> Iterator[Predictions]:
        """The task's predictions, one object per batch (inputs are decoded batch by batch)."""
        kind = self.task_impl.prediction_type
        for batch in self._prob_batches(
            as_items(inputs),
            batch_size=batch_size or kind.batch_size,
            tta=tta,
            workers=workers,
            progress=progress,
        ):
            yield self.task_impl.predictions(self, batch)

    def predictions(
        self,
        inputs: Iterable,
        outputs: PredictOutputs | None = None,
        *,
        keep: bool = True,
        batch_size: int | None = None,
        tta: bool | str | None = None,
        workers: int = 0,
        progress: bool = False,
    ) -> Predictions:
        """The task's predictions of every input (ClassPredictions, MaskPredictions, ...).

        `outputs`: files the task writes batch by batch as it predicts (mask PNGs, overlays);
        checked first (never overwritten). `keep=False` drops what a long prediction should not
        hold in memory (full-size masks) once written; the rows stay.

        >>> p = visionfit.load("runs/unet-20260101-120000").predictions(["a.png"])
        >>> p.masks[0].shape, p.to_frame(), p.to_json(0)["rle"]
        """
        items = as_items(inputs)
        kind = self.task_impl.prediction_type
        where = str(self.run_dir) if self.run_dir is not None else "this model"
        outputs = kind.prepare(outputs or PredictOutputs(), items, where)
        parts = []
        for part in self.iter_predictions(
            items, batch_size=batch_size, tta=tta, workers=workers, progress=progress
        ):
            part.write_files(outputs)
            parts.append(part if keep else part.light())
        if not parts:
            empty = np.zeros((0, len(self.classes)), np.float32)
            parts = [self.task_impl.predictions(self, ProbBatch([], 0, empty, [], []))]
        return kind.concat(parts)

    def predict(
        self,
        inputs: Iterable,
        *,
        masks_dir: str | Path | None = None,
        overlays_dir: str | Path | None = None,
        **kwargs,
    ) -> pd.DataFrame:
        """The task's prediction table: classes and probabilities (with `error` for unreadable
        files), or for segmentation the RLE table (options masks_dir=, overlays_dir= write the
        mask PNGs and overlays). kwargs: batch_size, tta, workers, progress."""
        outputs = PredictOutputs(
            masks_dir=Path(masks_dir) if masks_dir is not None else None,
            overlays_dir=Path(overlays_dir) if overlays_dir is not None else None,
        )
        return self.predictions(inputs, outputs, keep=False, **kwargs).to_frame()


class Predictor(Predicting):
    """A trained model (or a fold ensemble) rebuilt from its bundle, with the preprocessing and
    post-processing it was trained with.

    >>> p = visionfit.load("runs/simple_cnn-20260101-120000")
    >>> p.predict(["a.png", "b.png"])  # classes: image, pred, prob_<class>...; masks: RLE table
    >>> p.predictions(["a.png"]).to_json(0)  # the task's typed predictions
    """

    def __init__(
        self,
        models: Sequence[nn.Module],
        meta: dict,
        run_dir: Path | None = None,
        task: Task | None = None,
    ):
        self.task_impl = task or task_for_meta(meta)
        self.models = [m.eval() for m in models]
        self.meta = meta
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.task: str = meta["task"]
        self.classes: list[str] = list(meta["classes"])
        self.probability_module = MeanProbabilities(self.models, self.task_impl, meta)
        # forward + probabilities + fold mean; another backend (engine/onnx_backend.py) swaps it
        self.forward_probs = self.probability_module
        self.backend = "torch"
        self._device = next(self.probability_module.parameters()).device
        # `model`: the network of a single run, the averaging module of an ensemble
        self.model = self.models[0] if len(self.models) == 1 else self.probability_module
        # what training's evaluation applied (resize mode, interpolation, mean, std)
        self.transform = eval_transforms(meta)
        # The pixel cap the run was trained with (`--max-pixels`); images above it are refused.
        self.max_pixels = int(meta.get("max_pixels", DEFAULT_MAX_PIXELS))
        self.head = self.task_impl.head(meta)

    def _probs(self, x: torch.Tensor, flips: list[tuple[int, ...]]) -> torch.Tensor:
        """Probabilities averaged over the members and the test-time flips."""
        x = x.to(self._device)
        total = None
        for dims in flips:
            p = self.forward_probs(torch.flip(x, dims=dims) if dims else x).to(self._device)
            if dims and self.task_impl.spatial_output:
                p = torch.flip(p, dims=dims)  # undo the flip on a map
            total = p if total is None else total + p
        return (total / len(flips)).float().cpu()

    @torch.no_grad()
    def iter_batches(
        self,
        inputs: Iterable,
        *,
        batch_size: int = 64,
        tta: bool | str | None = None,
        workers: int = 0,
        progress: bool = False,
    ) -> Iterator[tuple[torch.Tensor, list[str], list[tuple[int, int]]]]:
        """Per batch: probabilities, why each input could not be read ("" if fine), and each
        input's original (height, width). Inputs are decoded batch by batch (streamed).
        `tta`: "none" / False, "hflip" / True, "hvflip"; None: the run's own (`train.tta`)."""
        flips = _tta_flips(self.meta.get("tta", "none") if tta is None else tta)
        items = as_items(inputs)
        meta = self.meta
        ds = _PredictDataset(
            items,
            self.transform,
            meta["in_chans"],
            meta["img_size"],
            self.max_pixels,
            meta.get("window"),
        )
        loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers)
        with show_progress("predicting", len(ds), "images", enabled=progress) as shown:
            for x, hs, ws, errs in loader:
                sizes = [(int(h), int(w)) for h, w in zip(hs, ws, strict=True)]
                yield self._probs(x, flips), list(errs), sizes
                shown.advance(len(errs))

    def predict_proba(
        self,
        inputs: Iterable,
        *,
        batch_size: int = 64,
        tta: bool | str | None = None,
        workers: int = 0,
    ) -> tuple[np.ndarray, list[str]]:
        """Probabilities (N, C) — (N, K, h, w) for masks — and, per input, why it could not be
        read ("" if fine); rows of unreadable inputs are NaN."""
        probs, errors = [], []
        for p, errs, _ in self.iter_batches(
            inputs, batch_size=batch_size, tta=tta, workers=workers
        ):
            probs.append(p.numpy())
            errors.extend(errs)
        if not probs:
            return np.zeros((0, len(self.classes)), np.float32), []
        out = np.concatenate(probs)
        out[[bool(e) for e in errors]] = np.nan
        return out, errors

    def prepare(self, image: np.ndarray) -> torch.Tensor:
        """One decoded image as the network takes it (training's evaluation transform): the
        server prepares images concurrently, outside the model, then `predict_prepared`."""
        x = self.transform(image=image)["image"]
        return x.unsqueeze(0) if x.ndim == 2 else x

    @torch.no_grad()
    def predict_prepared(
        self, tensors: Sequence[torch.Tensor], sizes: Sequence[tuple[int, int]], items=None
    ) -> Predictions:
        """The task's predictions of images already `prepare`d, in one forward pass (with the
        run's test-time flips); `sizes`: each image's original (height, width)."""
        items = list(items) if items is not None else [f"image_{i}" for i in range(len(tensors))]
        flips = _tta_flips(self.meta.get("tta", "none"))
        probs = self._probs(torch.stack(list(tensors)), flips)
        batch = ProbBatch(items, 0, probs, [""] * len(items), [tuple(s) for s in sizes])
        return self.task_impl.predictions(self, batch)

    def _prob_batches(
        self, items: list, *, batch_size: int, tta, workers: int, progress: bool
    ) -> Iterator[ProbBatch]:
        start = 0
        for probs, errs, sizes in self.iter_batches(
            items, batch_size=batch_size, tta=tta, workers=workers, progress=progress
        ):
            n = len(errs)
            yield ProbBatch(items[start : start + n], start, probs, errs, sizes)
            start += n


def _tta_flips(tta: bool | str | None) -> list[tuple[int, ...]]:
    mode = "hflip" if tta is True else "none" if tta in (False, None) else tta
    if mode not in TTA_MODES:
        raise DataError(f"unknown TTA mode {tta!r}; choose from {', '.join(TTA_MODES)}")
    return {"none": [()], "hflip": [(), (3,)], "hvflip": [(), (3,), (2,)]}[mode]


def as_items(inputs) -> list:
    if isinstance(inputs, (str, Path, Image.Image, np.ndarray)):
        return [inputs]
    return list(inputs)


def expand_inputs(
    inputs: Sequence[str | Path], *, image_col: str = "image", root: str | Path | None = None
) -> list[Path]:
    """Files as given, folders searched recursively for images, CSVs read from `image_col`,
    Parquet files and saved `datasets` folders read from their image column (data/tables.py:
    one path per row, in order)."""
    from visionfit.data.tables import table_format, table_images

    paths: list[Path] = []
    for raw in inputs:
        p = Path(raw)
        if not p.exists():
            raise DataError(f"input not found: {p}")
        if table_format(p):
            paths.extend(map(Path, table_images(p, image_col=image_col, root=root)))
        elif p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and is_image_file(q))
            if not found:
                raise DataError(f"no images found in folder {p}")
            paths.extend(found)
        elif p.suffix.lower() == ".csv":
            names = read_user_csv(p, required=[(image_col, "--image-col")]).df[image_col]
            names = [n for n in names.str.strip() if n]  # an empty cell names no image
            base = Path(root) if root else p.parent
            paths.extend(q if q.is_absolute() else base / q for q in map(Path, names))
        else:
            paths.append(p)
    if not paths:
        raise DataError("no inputs to predict")
    return paths
