"""`visionfit.load(run_dir)`: any finished run, rebuilt for prediction through the registries.

A run directory says what it is in its top-level model.json: a single bundle (the task that
trained it, `task_family`), or ``"kind": "cv"`` with its fold members (each an ordinary bundle).
Other kinds of runs (e.g. the scikit-learn baseline) register a loader in `RUN_LOADERS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from visionfit.engine.bundle import load_bundle_model, read_bundle_meta
from visionfit.engine.predict import Predictor
from visionfit.errors import RunError
from visionfit.fileio import atomic_write_text, json_safe
from visionfit.tasks.registry import task_for_meta

ENSEMBLE_FORMAT = "visionfit-ensemble"
# Every member must be fed the same way for one decoded batch to serve them all.
SHARED_KEYS = ("task", "classes", "in_chans", "img_size", "mean", "std")

# (is_this_kind(run_dir), load(run_dir)) pairs tried before the bundle/ensemble loaders.
RUN_LOADERS: list[tuple[Callable[[Path], bool], Callable[[Path], object]]] = []


def read_run_meta(run_dir: str | Path) -> dict | None:
    """The top-level model.json of a run, or None when there is none."""
    path = Path(run_dir) / "model.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunError(f"{path} is not valid JSON: {e}") from None


def is_ensemble_dir(run_dir: str | Path) -> bool:
    meta = read_run_meta(run_dir) if Path(run_dir).is_dir() else None
    return meta is not None and meta.get("kind") == "cv"


def write_ensemble_meta(run_dir: Path, members: list[str], extra: dict) -> None:
    """The CV run's model.json: the first member's bundle meta (all members share how they are
    fed), the members, and the ensemble's own post-processing (`extra`)."""
    first = dict(read_run_meta(run_dir / members[0]) or {})
    for key in ("best_epoch", "monitor_value"):
        first.pop(key, None)
    info = {**first, "format": ENSEMBLE_FORMAT, "version": 1, "kind": "cv", "members": members}
    info.update(extra)
    atomic_write_text(run_dir / "model.json", json.dumps(json_safe(info), indent=2))


def load(run_dir: str | Path):
    """Load a finished run for prediction (model.json + model.safetensors; no pickle). A
    cross-validation run gives its fold ensemble; other run kinds come from `RUN_LOADERS`."""
    return load_run(run_dir)


def load_run(run_dir: str | Path):
    """A Predictor for a finished run: its bundle, or the mean of its fold models."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run directory not found: {run_dir}")
    for is_kind, loader in _loaders():
        if is_kind(run_dir):
            return loader(run_dir)
    if not is_ensemble_dir(run_dir):
        _refuse_modelless(run_dir)
        model, meta = load_bundle_model(run_dir)
        return Predictor([model], meta, run_dir, task_for_meta(meta))
    meta = read_run_meta(run_dir)
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


def _loaders():
    return list(RUN_LOADERS)


def _refuse_modelless(run_dir: Path) -> None:
    summary = run_dir / "summary.json"
    if not (run_dir / "model.json").is_file() and summary.is_file():
        try:
            kind = json.loads(summary.read_text()).get("kind")
        except (OSError, json.JSONDecodeError):
            kind = None
        if kind == "baseline":
            raise RunError(
                f"{run_dir} is a scikit-learn baseline run without saved models: it keeps "
                "scores and out-of-fold predictions only (train it again to keep its models)"
            )
    read_bundle_meta(run_dir)  # raises a clear RunError for anything else that is not a bundle
