"""The read side of a finished run, as reports and the server see it: its summary, config,
classes, model.json and tables, all read through runs/files.py and runs/summary.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from visionfit.errors import RunError
from visionfit.runs import files
from visionfit.runs.summary import RunSummary, read_summary


@dataclass
class RunView:
    """Read-only view of one run directory (single, cv or baseline; classify or segment)."""

    path: Path
    summary: RunSummary = field(repr=False)  # dict-like too: summary.get(key), summary[key]
    # results computed once per report and shared by its plots (e.g. validation predictions)
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def open(cls, run_dir: str | Path) -> RunView:
        path = Path(run_dir)
        return cls(path, read_summary(path))

    # ---- identity --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def kind(self) -> str:
        """single, cv or baseline."""
        return self.summary.kind

    @property
    def task(self) -> str:
        return str(self.summary.get("task") or self.config.get("data", {}).get("task", ""))

    @cached_property
    def classes(self) -> list[str]:
        try:
            found = files.read_classes(self.path)
        except RunError:  # a report shows what it can
            found = None
        return [str(c) for c in (found or self.summary.get("classes") or [])]

    @cached_property
    def config(self) -> dict:
        return files.read_config_dict(self.path)

    @cached_property
    def meta(self) -> dict:
        """model.json (empty for a baseline, which keeps no model)."""
        try:
            return files.read_model_meta(self.path) or {}
        except RunError:
            return {}

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
            return files.read_json(p)
        except RunError:
            return None

    def read_csv(self, name: str) -> pd.DataFrame | None:
        try:
            return files.read_table(self.path, name, as_text=False)
        except RunError:
            return None

    def file(self, name: str) -> Path:
        """The path of one of the run's files (runs.files names them: files.CONFIG, ...)."""
        return files.path(self.path, name)

    def has_model(self) -> bool:
        """A model.json at the top (a bundle, an ensemble or a baseline's pipelines)."""
        return self.file(files.MODEL_META).is_file()

    def fold_dirs(self) -> list[Path]:
        return sorted(
            (p for p in self.path.glob("fold_*") if p.is_dir()), key=lambda p: _fold_no(p.name)
        )

    def metrics(self) -> pd.DataFrame | None:
        df = self.read_csv("metrics.csv")
        return df if df is not None and "epoch" in df and len(df) else None

    def samples(self) -> pd.DataFrame | None:
        """image, label[, split | fold] for every sample used (splits.csv or folds.csv)."""
        has_splits = files.path(self.path, files.SPLITS).is_file()
        return self.read_csv(files.SPLITS if has_splits else files.FOLDS)

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
