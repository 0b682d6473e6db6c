"""`visionfit.load(run_dir)`: any finished run, rebuilt for prediction through the registries.

A run directory says what it is in its top-level model.json (`runs.kind.model_kind`): a single
bundle (the task that trained it, `task_family`), or ``"kind": "cv"`` with its fold members (each
an ordinary bundle).
Other kinds of runs (e.g. the scikit-learn baseline) register a loader in `RUN_LOADERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from visionfit.errors import RunError
from visionfit.inference.bundle import load_bundle_model
from visionfit.inference.predict import Predictor
from visionfit.runs.files import read_model_meta
from visionfit.runs.kind import model_kind
from visionfit.tasks.registry import task_for_meta

# Every member must be fed the same way for one decoded batch to serve them all.
SHARED_KEYS = (
    "task",
    "classes",
    "in_chans",
    "img_size",
    "mean",
    "std",
    "resize",
    "crop_pct",
    "interpolation",
)


def _baseline_loader() -> tuple[Callable[[Path], bool], Callable[[Path], object]]:
    from visionfit.inference.baseline import BaselinePredictor, is_baseline_run

    return is_baseline_run, BaselinePredictor.from_run_dir


# Other kinds of runs: (is_this_kind(run_dir), load(run_dir)), tried before bundles/ensembles.
RUN_LOADERS: list[Callable[[], tuple[Callable[[Path], bool], Callable[[Path], object]]]] = [
    _baseline_loader
]


def load_run(run_dir: str | Path):
    """A Predictor for a finished run: its bundle, or the mean of its fold models."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run directory not found: {run_dir}")
    for entry in RUN_LOADERS:
        is_kind, loader = entry()
        if is_kind(run_dir):
            return loader(run_dir)
    if model_kind(run_dir) != "ensemble":
        model, meta = load_bundle_model(run_dir)
        return Predictor([model], meta, run_dir, task_for_meta(meta))
    meta = read_model_meta(run_dir) or {}
    members = list(meta.get("members") or [])
    if not members:
        raise RunError(f"{run_dir / 'model.json'} lists no fold models")
    models = []
    for name in members:
        model, member_meta = load_bundle_model(run_dir / name)
        for key in SHARED_KEYS:
            if member_meta.get(key) != meta.get(key):
                raise RunError(
                    f"fold model {run_dir / name} differs from the ensemble in {key!r}: "
                    f"{member_meta.get(key)!r} != {meta.get(key)!r}"
                )
        models.append(model)
    return Predictor(models, meta, run_dir, task_for_meta(meta))
