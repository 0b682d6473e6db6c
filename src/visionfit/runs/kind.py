"""What kind of directory is this: the one answer loading, resume, auto, reports and the runs
table ask for.

`run_kind(dir)`:

- ``single`` / ``cv`` / ``baseline``: a finished run (its summary.json says which);
- ``ensemble``: a model.json of ``"kind": "cv"`` without a summary (`visionfit auto`'s ensemble);
- ``member``: a model (bundle or baseline pipelines) without a summary or a run around it (a
  fold or refit copied out of its run);
- ``fold``: ``fold_<k>/`` or ``refit/`` of a K-fold run or a baseline (beside the run's
  folds.csv), finished or not: a part of that run, resumed with it;
- ``auto``: a `visionfit auto` directory (auto.json); ``tune``: a `visionfit tune` directory;
- ``trial``: a trial of `tune` without a summary (folds and cv.csv, or a run under the study's
  ``trials/``);
- ``unfinished``: a hold-out run that started (config.yaml) but wrote no summary: `--resume`
  continues it;
- ``unfinished_cv``: a K-fold run (its folds.csv, or config.yaml's cv settings) without a
  summary: `--resume` continues its folds;
- ``unfinished_baseline``: a `visionfit baseline` run (its config.yaml) without a summary;
- ``none``: not a visionfit directory.

`is_finished(dir)`: a run with nothing left to do (a summary, and a single run's bundle; an auto
directory that says it finished). `fold_finished(dir)`: a fold or refit whose training, bundle
and record are all written (`fold.json`, its last file).

`model_kind(dir)` answers the other question, what `visionfit.load` finds in model.json:
``bundle`` (one network), ``ensemble`` (fold or seed members), ``baseline`` (scikit-learn
pipelines; also a baseline too old to have kept them) or None.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from visionfit.data.scan_cache import default_cache_dir
from visionfit.errors import RunError
from visionfit.runs import files

RunKind = Literal[
    "single",
    "cv",
    "baseline",
    "ensemble",
    "member",
    "fold",
    "auto",
    "tune",
    "trial",
    "unfinished",
    "unfinished_cv",
    "unfinished_baseline",
    "none",
]
ModelKind = Literal["bundle", "ensemble", "baseline"]

AUTO_STATE = "auto.json"
TUNE_TRIALS = "trials.csv"
TUNE_STORAGE = "study.db"
TRIAL_SCORES = "cv.csv"
TUNE_TRIALS_DIR = "trials"  # a tune directory's folder of trial runs
REFIT_DIR = "refit"  # a K-fold run's model on all images (after its fold_<k>/)
_FOLD_DIR = re.compile(r"fold_\d+")


def summary_kind(run_dir: str | Path) -> str | None:
    """The kind a summary.json states (old ones without a kind are single runs); None when there
    is no readable summary."""
    p = files.path(run_dir, files.SUMMARY)
    try:
        raw = files.read_json(p)
    except RunError:
        return None
    return str(raw.get("kind") or "single") if isinstance(raw, dict) else None


def _meta_kind(run_dir: Path) -> str | None:
    try:
        meta = files.read_model_meta(run_dir)
    except Exception:  # noqa: BLE001 - a damaged model.json is the loader's error to report
        return "bundle"
    if meta is None:
        return None
    kind = meta.get("kind")
    if kind in ("cv", "baseline"):
        return "ensemble" if kind == "cv" else "baseline"
    return "bundle"


def model_kind(run_dir: str | Path) -> ModelKind | None:
    """What model.json describes (see the module's docstring); None without one."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return None
    found = _meta_kind(run_dir)
    if found is None and summary_kind(run_dir) == "baseline":
        return "baseline"  # from before baselines kept their pipelines: the loader says so
    return found  # type: ignore[return-value]


def run_kind(run_dir: str | Path) -> RunKind:
    """What kind of directory `run_dir` is (see the module's docstring)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return "none"
    stated = summary_kind(run_dir)
    if stated is not None:
        return stated  # type: ignore[return-value]
    if (run_dir / AUTO_STATE).is_file():
        return "auto"
    if _is_tune_dir(run_dir):
        return "tune"
    if cv_run_of(run_dir) is not None:
        return "fold"
    if run_dir.parent.name == TUNE_TRIALS_DIR and _is_tune_dir(run_dir.parent.parent):
        return "trial"
    if (run_dir / TRIAL_SCORES).is_file() and files.path(run_dir, files.FOLDS).is_file():
        return "trial"
    if _config_is_baseline(run_dir):
        return "unfinished_baseline"
    if _is_cv_run(run_dir):
        return "unfinished_cv"
    meta = _meta_kind(run_dir)
    if meta == "ensemble":
        return "ensemble"
    if files.has_config(run_dir) and (meta is None or files.has_inputs(run_dir)):
        return "unfinished"  # with a bundle: killed after it, before its summary
    if meta is not None:
        return "member"
    return "none"


def cv_run_of(run_dir: str | Path) -> Path | None:
    """The K-fold run that `run_dir` is a fold (``fold_<k>/``) or the refit (``refit/``) of;
    None when it is neither."""
    run_dir = Path(run_dir)
    named = _FOLD_DIR.fullmatch(run_dir.name) or run_dir.name == REFIT_DIR
    parent = run_dir.parent
    if named and files.path(parent, files.FOLDS).is_file() and files.has_config(parent):
        return parent
    return None


def fold_finished(fold_dir: str | Path) -> bool:
    """A fold (or refit) of a K-fold run that finished: its record, written last, exists."""
    return files.path(fold_dir, files.FOLD_RECORD).is_file()


def is_finished(run_dir: str | Path) -> bool:
    """A run with nothing left to do: it wrote its summary (and, for a single run, its bundle),
    or a `visionfit auto` directory that finished (auto.json says so)."""
    kind = run_kind(run_dir)
    if kind == "single":
        return files.has_bundle(run_dir)
    if kind == "auto":
        return _auto_status(Path(run_dir)) == "finished"
    return kind in ("cv", "baseline")


def _is_tune_dir(run_dir: Path) -> bool:
    return (run_dir / TUNE_TRIALS).is_file() or (run_dir / TUNE_STORAGE).is_file()


def _is_cv_run(run_dir: Path) -> bool:
    """A K-fold run: its folds.csv, or (killed before writing it) its config.yaml's cv settings."""
    if not files.has_config(run_dir):
        return False
    if files.path(run_dir, files.FOLDS).is_file():
        return True
    cv = files.read_config_dict(run_dir).get("cv")
    cv = cv if isinstance(cv, dict) else {}
    try:
        return int(cv.get("folds") or 0) > 1 or bool(cv.get("folds_file"))
    except (TypeError, ValueError):
        return False


def _config_is_baseline(run_dir: Path) -> bool:
    """A baseline's config.yaml (a BaselineConfig: `model` is a name, `features` its own key)."""
    cfg = files.read_config_dict(run_dir)
    return "features" in cfg and not isinstance(cfg.get("model"), dict)


def _auto_status(run_dir: Path) -> str | None:
    try:
        state = json.loads((run_dir / AUTO_STATE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return state.get("status") if isinstance(state, dict) else None


def is_visionfit_dir(path: str | Path) -> bool:
    """A directory visionfit wrote, which no layout reads as data: a run of any kind (see
    `run_kind`), or the cache folder ($VISIONFIT_CACHE, ~/.cache/visionfit). A folder holding
    runs (`runs/`) is not one itself; a layout leaves it out when nothing but runs is in it."""
    path = Path(path)
    try:
        kind = run_kind(path)
        if kind.startswith("unfinished"):
            # a config.yaml alone may be the user's own file: a run wrote its classes.json with it
            return files.path(path, files.CLASSES).is_file()
        if kind != "none":
            return True
        return path.resolve() == default_cache_dir().resolve()
    except OSError:  # a folder we may not read is no run of ours; the layout says it is unreadable
        return False
