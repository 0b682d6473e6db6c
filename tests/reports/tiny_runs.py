"""Tiny real runs of every kind, built once per test session and shared by tests/reports and
tests/serve (both conftests load this file): a few seconds of CPU training in all."""

from __future__ import annotations

from pathlib import Path

import torch

import visionfit
from visionfit.config import BaselineConfig, RunConfig
from visionfit.data.synthetic import (
    make_multilabel_dataset,
    make_segmentation_dataset,
    make_shapes_dataset,
)
from visionfit.engine.baseline import run_baseline

KINDS = ("multiclass", "binary", "cv", "baseline", "segment", "segment_cv", "multilabel")


def _config(data: Path, runs: Path, *, segment: bool = False, folds: int = 0) -> RunConfig:
    cfg = {
        "runs_dir": str(runs),
        "data": {"path": str(data), "workers": 0},
        "augment": {"preset": "medium", "img_size": 32},
        "train": {"epochs": 3, "batch_size": 16, "lr": 3e-3, "patience": None, "seed": 0},
    }
    if segment:
        cfg["data"]["task"] = "segment"
        cfg["augment"]["preset"] = "light"
        cfg["segment"] = {"arch": "unet", "width": 8}
    else:
        cfg["model"] = {"name": "simple_cnn"}
    if folds:
        cfg["cv"] = {"folds": folds}
        cfg["train"]["epochs"] = 2
    return RunConfig.from_dict(cfg)


def build(kind: str, base: Path) -> Path:
    """The run directory of `kind`, trained under `base` on first use."""
    marker = base / f"{kind}.run"
    if marker.is_file():
        return Path(marker.read_text())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny nets: faster on one thread, and on a busy machine
    try:
        run_dir = _train(kind, base)
    finally:
        torch.set_num_threads(threads)
    marker.write_text(str(run_dir))
    return run_dir


def _train(kind: str, base: Path) -> Path:
    runs = base / kind / "runs"
    if kind == "multilabel":
        folder = _data(base, "multilabel", lambda p: make_multilabel_dataset(p, n=48, size=32))
        csv = folder / "labels.csv"
        cfg = _config(csv, runs).model_dump()
        cfg["data"] = {
            "csv": str(csv),
            "label_cols": ["circle", "square", "triangle"],
            "workers": 0,
        }
        return visionfit.fit(RunConfig.from_dict(cfg), progress=False).run_dir
    if kind in ("multiclass", "baseline"):
        data = _data(base, "shapes", lambda p: make_shapes_dataset(p, n_per_class=20))
    elif kind in ("binary", "cv"):
        data = _data(base, "binary", lambda p: make_shapes_dataset(
            p, n_per_class=24, classes=("circle", "square"), seed=1))  # fmt: skip
    else:
        data = _data(base, "seg", lambda p: make_segmentation_dataset(p, 32, size=32, seed=0))
    if kind in ("multiclass", "binary"):
        return visionfit.fit(_config(data, runs), progress=False).run_dir
    if kind == "cv":
        return visionfit.cross_validate(_config(data, runs, folds=3), progress=False).run_dir
    if kind == "segment":
        return visionfit.fit(_config(data, runs, segment=True), progress=False).run_dir
    if kind == "segment_cv":
        cfg = _config(data, runs, segment=True, folds=2)
        return visionfit.cross_validate(cfg, progress=False).run_dir
    if kind == "baseline":
        cfg = BaselineConfig.from_dict(
            {"data": {"path": str(data)}, "cv": {"folds": 3}, "n_jobs": 1, "runs_dir": str(runs)}
        )
        return run_baseline(cfg, progress=False).run_dir
    raise ValueError(f"unknown run kind {kind!r}; choose from {', '.join(KINDS)}")


def _data(base: Path, name: str, make) -> Path:
    path = base / "data" / name
    if not path.exists():
        make(path)
    return path
