"""The one adapter between reports/serve and the rest of visionfit.

Everything the reports and the server need from a run comes through here: the run directory's
files (read as plain CSV / JSON / YAML), and the handful of library calls (`visionfit.load`, the
image decoder, the transform builders, mask reading, RLE encoding). After a refactor of engine/,
tasks/ or data/, this is the only module to re-point.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from visionfit.errors import RunError


@dataclass
class RunView:
    """Read-only view of one run directory (single, cv or baseline; classify or segment)."""

    path: Path
    summary: dict = field(repr=False)
    # results computed once per report and shared by its plots (e.g. validation predictions)
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def open(cls, run_dir: str | Path) -> RunView:
        path = Path(run_dir)
        summary_path = path / "summary.json"
        if not summary_path.is_file():
            raise RunError(
                f"{path} is not a finished run: it has no summary.json "
                "(runs are made by visionfit train / baseline)"
            )
        try:
            summary = json.loads(summary_path.read_text())
        except json.JSONDecodeError as e:
            raise RunError(f"{summary_path} is not valid JSON: {e}") from None
        return cls(path, summary)

    # ---- identity --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def kind(self) -> str:
        """single, cv or baseline."""
        return str(self.summary.get("kind", "single"))

    @property
    def task(self) -> str:
        return str(self.summary.get("task") or self.config.get("data", {}).get("task", ""))

    @cached_property
    def classes(self) -> list[str]:
        found = self.read_json("classes.json")
        return [str(c) for c in (found or self.summary.get("classes") or [])]

    @cached_property
    def config(self) -> dict:
        p = self.path / "config.yaml"
        return (yaml.safe_load(p.read_text()) or {}) if p.is_file() else {}

    @cached_property
    def meta(self) -> dict:
        """model.json (empty for a baseline, which keeps no model)."""
        return self.read_json("model.json") or {}

    @property
    def model_name(self) -> str:
        model = self.config.get("model")
        if isinstance(model, dict):  # a network: what its bundle says it is
            arch = self.meta.get("arch") or model.get("name", "")
            enc = self.meta.get("encoder")
            return f"{arch}" + (f" / {enc}" if enc else "")
        return f"baseline {model}" if model else str(self.meta.get("arch", ""))

    @property
    def monitor(self) -> str:
        return str(self.summary.get("monitor") or self.meta.get("monitor") or "val_loss")

    @property
    def img_size(self) -> int | None:
        size = self.meta.get("img_size") or self.config.get("augment", {}).get("img_size")
        return int(size) if size else None

    # ---- files -----------------------------------------------------------------------------

    def read_json(self, name: str):
        p = self.path / name
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text())
        except json.JSONDecodeError:
            return None

    def read_csv(self, name: str) -> pd.DataFrame | None:
        p = self.path / name
        if not p.is_file() or p.stat().st_size == 0:
            return None
        try:
            return pd.read_csv(p, keep_default_na=False, na_values=[""])
        except pd.errors.EmptyDataError:
            return None

    def fold_dirs(self) -> list[Path]:
        return sorted(
            (p for p in self.path.glob("fold_*") if p.is_dir()), key=lambda p: _fold_no(p.name)
        )

    def metrics(self) -> pd.DataFrame | None:
        df = self.read_csv("metrics.csv")
        return df if df is not None and "epoch" in df and len(df) else None

    def samples(self) -> pd.DataFrame | None:
        """image, label[, split | fold] for every sample used (splits.csv or folds.csv)."""
        return (
            self.read_csv("splits.csv")
            if (self.path / "splits.csv").is_file()
            else (self.read_csv("folds.csv"))
        )

    def train_images(self) -> pd.DataFrame:
        """Rows of the training images (the train split, or every image of a CV run)."""
        df = self.samples()
        if df is None:
            return pd.DataFrame(columns=["image", "label"])
        if "split" in df:
            df = df[df["split"] == "train"]
        return df.reset_index(drop=True)


def _fold_no(name: str) -> int:
    try:
        return int(name.split("_", 1)[1])
    except (IndexError, ValueError):
        return 1 << 30


# ---- library calls ------------------------------------------------------------------------


def load_predictor(run_dir: str | Path):
    """The run's predictor through the public interface: .task, .classes, .meta, .model,
    .predictions / .predict (the task's typed predictions / their table)."""
    from visionfit.inference.backends import load

    return load(run_dir)


def decode(source, *, in_chans: int = 3, max_pixels: int | None = None) -> np.ndarray:
    """The one image decoder (raises ImageDecodeError with .reason)."""
    from visionfit.data.io import DEFAULT_MAX_PIXELS, decode_image

    return decode_image(source, in_chans=in_chans, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)


def decode_error_type() -> type[Exception]:
    from visionfit.data.io import ImageDecodeError

    return ImageDecodeError


def default_max_pixels() -> int:
    from visionfit.data.io import DEFAULT_MAX_PIXELS

    return DEFAULT_MAX_PIXELS


def train_transform(run: RunView):
    """The run's training augmentation, applied as t(image=...) (image only, also for masks)."""
    aug = run.config.get("augment", {})
    preset, size = aug.get("preset", "none"), int(aug.get("img_size") or run.img_size or 64)
    mean, std = run.meta.get("mean", (0.5,) * 3), run.meta.get("std", (0.5,) * 3)
    from visionfit.data.transforms import create_transforms

    return create_transforms(preset, size, mean, std, train=True)


def list_runs_table(runs_dir: str | Path) -> pd.DataFrame:
    from visionfit.runs.table import list_runs

    return list_runs(runs_dir)
