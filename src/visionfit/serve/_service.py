"""What the server does with one image: decode it under the caps, predict, shape the JSON.

The predictor is loaded once (safetensors bundle via `visionfit.load`; no pickle) and shared.
An inference gate bounds concurrency: at most `max_concurrency` images are processed at once and
at most `max_queue` wait; any further request is refused at once (503), so memory stays bounded.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np

from visionfit.reports._run import (
    decode,
    decode_error_type,
    default_max_pixels,
    load_predictor,
)

# decode_image reasons that mean "this is not an image we read" (415) rather than "a broken or
# refused image" (422).
_UNSUPPORTED = ("not an image", "unsupported format")


class Busy(Exception):
    """The inference queue is full."""


class BadImage(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Gate:
    """At most `max_concurrency` running and `max_queue` waiting; more raises Busy at once."""

    def __init__(self, max_concurrency: int, max_queue: int):
        if max_concurrency < 1 or max_queue < 0:
            raise ValueError("max_concurrency must be >= 1 and max_queue >= 0")
        self.max_concurrency, self.max_queue = max_concurrency, max_queue
        self.admitted = 0  # running + waiting; only touched on the event loop's thread
        self._sem: asyncio.Semaphore | None = None

    @asynccontextmanager
    async def slot(self):
        if self.admitted >= self.max_concurrency + self.max_queue:
            raise Busy
        self.admitted += 1
        try:
            if self._sem is None:
                self._sem = asyncio.Semaphore(self.max_concurrency)
            async with self._sem:
                yield
        finally:
            self.admitted -= 1


class Service:
    """The loaded model and the request limits."""

    def __init__(
        self,
        run_dir: str | Path,
        *,
        max_upload_bytes: int,
        max_pixels: int | None,
        max_concurrency: int,
        max_queue: int,
    ):
        if max_upload_bytes < 1:
            raise ValueError("max_upload_bytes must be positive")
        self.run_dir = Path(run_dir)
        self.predictor = load_predictor(self.run_dir)
        self.meta: dict = dict(getattr(self.predictor, "meta", {}) or {})
        self.task: str = self.predictor.task
        self.classes: list[str] = list(self.predictor.classes)
        run_cap = int(self.meta.get("max_pixels") or default_max_pixels())
        self.max_pixels = min(int(max_pixels), run_cap) if max_pixels else run_cap
        self.max_upload_bytes = int(max_upload_bytes)
        self.gate = Gate(max_concurrency, max_queue)

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

    def infer(self, image: np.ndarray) -> dict:
        """JSON for one decoded image (called in a worker thread, inside the gate): the task's
        own rendering of its prediction, whose `view` tells the page what to draw."""
        preds = self.predictor.predictions([image])
        if preds.errors[0]:
            raise BadImage(422, f"could not predict: {preds.errors[0]}")
        size = [int(image.shape[1]), int(image.shape[0])]
        return {"task": self.task, "size": size, **preds.to_json(0)}
