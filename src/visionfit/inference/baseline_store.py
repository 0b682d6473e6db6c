"""How a baseline run keeps its fitted scikit-learn pipelines: skops files and model.json.

Each fold's fitted pipeline is ``fold_<k>/model.skops`` (with ``cv.refit``, one more fitted on
every image in ``refit/model.skops``), written with skops, never pickle. The top-level
``model.json`` (``"kind": "baseline"``) says how images become features (size, features,
in_chans, max_pixels), the classes, the threshold chosen on the out-of-fold predictions and the
members. Loading checks a file's types against :data:`TRUSTED_TYPES` before anything is built
from it, so a changed or foreign file is refused rather than executed.
"""

from __future__ import annotations

from pathlib import Path

import sklearn
import skops.io as sio
from sklearn.pipeline import Pipeline

from visionfit.errors import RunError
from visionfit.runs.files import read_model_meta, write_model_meta
from visionfit.runs.rundir import atomic_write_bytes

BASELINE_FORMAT = "visionfit-baseline"
MODEL_FILE = "model.skops"
REFIT_MEMBER = "refit"

# What a fitted pipeline of each --model holds beyond the types skops trusts by default (the
# scikit-learn estimators, numpy arrays and dtypes), read with skops.io.get_untrusted_types from
# pipelines of every model x {single-label, multi-label} x {no PCA, PCA}. knn's KD-tree appears
# only when PCA leaves few enough features for scikit-learn to choose a tree over brute force.
TRUSTED_TYPES: dict[str, tuple[str, ...]] = {
    "rf": ("sklearn.tree._tree.Tree",),
    "svm": ("sklearn.calibration._CalibratedClassifier", "sklearn.calibration._SigmoidCalibration"),
    "logreg": (),
    "knn": (
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.neighbors._kd_tree.KDTree",
    ),
}


def save_pipeline(path: Path, pipeline: Pipeline, model: str) -> None:
    """Write a fitted pipeline with skops; refuse to write one that could not be loaded back."""
    data = sio.dumps(pipeline)
    unexpected = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_TYPES[model]))
    if unexpected:
        raise RunError(
            f"the fitted {model} pipeline for {path} holds types outside visionfit's trusted list "
            f"({', '.join(unexpected)}); scikit-learn {sklearn.__version__} stores something new: "
            "report this with your scikit-learn version"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)


def load_pipeline(path: Path, model: str) -> Pipeline:
    """Read one skops file, trusting only the types a `model` pipeline is known to hold."""
    if model not in TRUSTED_TYPES:
        raise RunError(
            f"{path.parent.parent / 'model.json'} names model {model!r}; a baseline model is one "
            f"of {', '.join(TRUSTED_TYPES)}"
        )
    if not path.is_file():
        raise RunError(f"baseline model file missing: {path} (rerun visionfit baseline)")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:  # skops reads a zip of JSON: any failure means a damaged file
        raise RunError(
            f"{path} is not a readable skops file ({type(e).__name__}: {e}); "
            "rerun visionfit baseline to write it again"
        ) from None
    unexpected = sorted(set(untrusted) - set(TRUSTED_TYPES[model]))
    if unexpected:
        raise RunError(
            f"refusing to load {path}: it holds types a {model} baseline never saves "
            f"({', '.join(unexpected)}), so it was changed or not written by visionfit; "
            "rerun visionfit baseline to remake it"
        )
    try:
        pipeline = sio.load(path, trusted=list(TRUSTED_TYPES[model]))
    except Exception as e:  # e.g. written by another scikit-learn version
        raise RunError(
            f"cannot rebuild the pipeline in {path} ({type(e).__name__}: {e}); it was saved with "
            f"scikit-learn {_saved_sklearn(path)}, this is {sklearn.__version__}"
        ) from None
    if not isinstance(pipeline, Pipeline):
        raise RunError(f"{path} holds a {type(pipeline).__name__}, not a scikit-learn Pipeline")
    return pipeline


def _saved_sklearn(path: Path) -> str:
    meta = read_baseline_meta(path.parent) or read_baseline_meta(path.parent.parent) or {}
    return str(meta.get("sklearn_version", "unknown"))


def read_baseline_meta(run_dir: str | Path) -> dict | None:
    """A run's model.json when it describes a baseline, else None."""
    meta = read_model_meta(run_dir)
    return meta if meta is not None and meta.get("kind") == "baseline" else None


def write_baseline_meta(run_dir: Path, members: list[str], info: dict) -> None:
    """The self-description `load` reads: format, how features are made, classes, members."""
    meta = {
        "format": BASELINE_FORMAT,
        "version": 1,
        "kind": "baseline",
        **info,
        "members": members,
        "model_file": MODEL_FILE,
        "sklearn_version": sklearn.__version__,
    }
    write_model_meta(run_dir, meta)
