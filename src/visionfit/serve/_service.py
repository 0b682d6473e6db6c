"""What the server does with images: decode them under the caps (in a thread pool, outside the
model), predict them in batches, shape each one's JSON.

The predictor is loaded once (safetensors bundle via `visionfit.load`; no pickle; `backend`
"onnx" runs the run's exported ONNX graph through onnxruntime) and shared. Requests are bounded:
at most `max_batch` images in the model and `max_queue` more in the server (decoding or waiting);
any further request is refused at once (503), so memory stays bounded. Concurrent requests
share one forward pass of up to `max_batch` images (serve/batcher.py).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from visionfit.errors import RunError
from visionfit.reports._run import (
    decode,
    decode_error_type,
    default_max_pixels,
    load_predictor,
)
from visionfit.serve.batcher import Batcher, Busy

__all__ = ["BadImage", "Busy", "Prepared", "Service"]

# decode_image reasons that mean "this is not an image we read" (415) rather than "a broken or
# refused image" (422).
_UNSUPPORTED = ("not an image", "unsupported format")


class BadImage(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Prepared:
    """One decoded image (`image`, its original array) and what the network takes (`x`)."""

    __slots__ = ("image", "x")

    def __init__(self, image: np.ndarray, x):
        self.image, self.x = image, x


class Service:
    """The loaded model, the request limits, the decoding pool and the batcher."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        max_upload_bytes: int,
        max_pixels: int | None,
        max_queue: int,
        max_batch: int = 16,
        max_wait_ms: float = 5.0,
        backend: str = "torch",
        decode_workers: int | None = None,
    ):
        if max_upload_bytes < 1:
            raise ValueError("max_upload_bytes must be positive")
        self.batcher = Batcher(
            self.infer_batch,
            max_batch=max_batch,
            max_wait=max_wait_ms / 1000,
            max_queue=max_queue,
            thread_init=_model_thread_setup if backend == "torch" else None,
        )
        self.run_dir = Path(run_dir)
        self.predictor = _load(self.run_dir, backend)
        self.backend = backend
        self.meta: dict = dict(getattr(self.predictor, "meta", {}) or {})
        self.task: str = self.predictor.task
        self.classes: list[str] = list(self.predictor.classes)
        run_cap = int(self.meta.get("max_pixels") or default_max_pixels())
        self.max_pixels = min(int(max_pixels), run_cap) if max_pixels else run_cap
        self.max_upload_bytes = int(max_upload_bytes)
        workers = decode_workers or min(4, os.cpu_count() or 1)
        self.decoders = ThreadPoolExecutor(workers, thread_name_prefix="visionfit-decode")

    def info(self) -> dict:
        from visionfit.data.preprocess import Preprocess

        m = self.meta
        return {
            "run": self.run_dir.name,
            "kind": m.get("kind", "single"),
            "task": self.task,
            "model": m.get("arch") or m.get("model") or "",
            "classes": self.classes,
            "in_chans": int(m.get("in_chans", 3)),
            "img_size": m.get("img_size"),
            "mean": m.get("mean"),
            "std": m.get("std"),
            # resize, crop_pct, interpolation: what predictions apply (networks only; a
            # baseline's features have no mean/std)
            **(Preprocess.from_meta(m).meta() if m.get("mean") is not None else {}),
            "threshold": m.get("threshold"),
            "members": m.get("members"),
            "max_upload_bytes": self.max_upload_bytes,
            "max_pixels": self.max_pixels,
        }

    def decode(self, data: bytes) -> np.ndarray:
        try:
            return decode(
                data,
                in_chans=int(self.meta.get("in_chans", 3)),
                max_pixels=self.max_pixels,
                window=self.meta.get("window"),
            )
        except decode_error_type() as e:
            reason = getattr(e, "reason", "unreadable")
            status = 415 if reason in _UNSUPPORTED else 422
            hint = " (send a PNG, JPEG, BMP, TIFF, WebP or GIF image)" if status == 415 else ""
            message = str(e).removeprefix("<in-memory image>: ")
            raise BadImage(status, f"{message}{hint}") from None

    def prepare(self, data: bytes) -> Prepared:
        """Decode an upload and apply the run's evaluation transform (in a decoding thread)."""
        image = self.decode(data)
        prepare = getattr(self.predictor, "prepare", None)  # a network's; the baseline has none
        return Prepared(image, prepare(image) if prepare is not None else None)

    def infer_batch(self, items: list[Prepared]) -> list:
        """JSON (or a BadImage) for each prepared image, from one forward pass (in the model's
        thread): the task's own rendering of its prediction, whose `view` tells the page what to
        draw."""
        images = [p.image for p in items]
        sizes = [(int(a.shape[0]), int(a.shape[1])) for a in images]
        if all(p.x is not None for p in items):
            preds = self.predictor.predict_prepared([p.x for p in items], sizes, images)
        else:
            preds = self.predictor.predictions(images, batch_size=len(images))
        out: list = []
        for i, (h, w) in enumerate(sizes):
            if preds.errors[i]:
                out.append(BadImage(422, f"could not predict: {preds.errors[i]}"))
            else:
                out.append({"task": self.task, "size": [w, h], **preds.to_json(i)})
        return out

    async def close(self) -> None:
        """Stop the batcher and the decoding threads (the server's shutdown)."""
        await self.batcher.close()
        self.decoders.shutdown(wait=True, cancel_futures=True)


def _model_thread_setup() -> None:
    """The model thread's torch uses all cores but one (at most what OMP_NUM_THREADS allows;
    torch's thread count is per thread): under load the event loop and the decoding threads need
    a core, and two threads fighting over it made each batch about twice as slow on 2 cores
    (3.8 ms against 2.3 ms)."""
    import torch

    torch.set_num_threads(max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) - 1)))


def _load(run_dir: Path, backend: str):
    from visionfit.inference.backends import BACKENDS, use_backend

    if backend not in BACKENDS:  # before the (slow) load
        raise RunError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    return use_backend(load_predictor(run_dir), backend)
