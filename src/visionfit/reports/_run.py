"""The one adapter between reports/serve and the rest of visionfit.

Everything the reports and the server need from a run comes through here: the run directory's
files (`RunView`, owned by runs/view.py and re-exported here), and the handful of library calls
(`visionfit.load`, the image decoder, the transform builders, mask reading, RLE encoding). After
a refactor of engine/, tasks/ or data/, this is the only module to re-point.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from visionfit.runs.view import RunView

__all__ = ["RunView"]  # re-exported: reports and serve import it from here


# ---- library calls ------------------------------------------------------------------------


def load_predictor(run_dir: str | Path):
    """The run's predictor through the public interface: .task, .classes, .meta, .model,
    .predictions / .predict (the task's typed predictions / their table)."""
    from visionfit.inference.backends import load

    return load(run_dir)


def decode(
    source, *, in_chans: int = 3, max_pixels: int | None = None, window: str | None = None
) -> np.ndarray:
    """The one image decoder (raises ImageDecodeError with .reason); `window`: DICOM's."""
    from visionfit.data.io import DEFAULT_MAX_PIXELS, decode_image

    limit = max_pixels or DEFAULT_MAX_PIXELS
    return decode_image(source, in_chans=in_chans, max_pixels=limit, window=window)


def decode_error_type() -> type[Exception]:
    from visionfit.data.io import ImageDecodeError

    return ImageDecodeError


def default_max_pixels() -> int:
    from visionfit.data.io import DEFAULT_MAX_PIXELS

    return DEFAULT_MAX_PIXELS


def train_transform(run: RunView):
    """The run's training augmentation, applied as t(image=...) (image only, also for masks):
    its augment.yaml, or for a run from before that file the preset its config names."""
    aug = run.config.get("augment", {})
    size = int(aug.get("img_size") or run.img_size or 64)
    from dataclasses import replace

    from visionfit.data.preprocess import Preprocess
    from visionfit.data.transforms import transforms_for
    from visionfit.runs.files import read_augment

    stored = {"mean": (0.5,) * 3, "std": (0.5,) * 3, **run.meta, "img_size": size}
    pre = Preprocess.from_meta(stored)
    if aug.get("crop_scale"):
        pre = replace(pre, crop_scale=tuple(aug["crop_scale"]))
    augment = read_augment(run.path) or aug.get("preset", "none")
    return transforms_for(augment, pre, train=True)


def list_runs_table(runs_dir: str | Path) -> pd.DataFrame:
    from visionfit.runs.table import list_runs

    return list_runs(runs_dir)
