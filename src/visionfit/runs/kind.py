"""What kind of directory is this: the one answer loading, resume, auto, reports and the runs
table ask for.

`run_kind(dir)`:

- ``single`` / ``cv`` / ``baseline``: a finished run (its summary.json says which);
- ``ensemble``: a model.json of ``"kind": "cv"`` without a summary (`visionfit auto`'s ensemble);
- ``member``: a model (bundle or baseline pipelines) without a summary: a fold, a refit;
- ``auto``: a `visionfit auto` directory (auto.json); ``tune``: a `visionfit tune` directory;
- ``trial``: a CV trial of `tune` (folds and cv.csv, no summary);
- ``unfinished``: a run that started (config.yaml) but wrote no summary: `--resume` continues it;
- ``none``: not a visionfit directory.

`model_kind(dir)` answers the other question, what `visionfit.load` finds in model.json:
``bundle`` (one network), ``ensemble`` (fold or seed members), ``baseline`` (scikit-learn
pipelines; also a baseline too old to have kept them) or None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from visionfit.errors import RunError
from visionfit.runs import files

RunKind = Literal[
    "single", "cv", "baseline", "ensemble", "member", "auto", "tune", "trial", "unfinished", "none"
]
ModelKind = Literal["bundle", "ensemble", "baseline"]

AUTO_STATE = "auto.json"
TUNE_TRIALS = "trials.csv"
TUNE_STORAGE = "study.db"
TRIAL_SCORES = "cv.csv"


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
    if (run_dir / TUNE_TRIALS).is_file() or (run_dir / TUNE_STORAGE).is_file():
        return "tune"
    meta = _meta_kind(run_dir)
    if meta == "ensemble":
        return "ensemble"
    if meta is not None:
        return "member"
    if (run_dir / TRIAL_SCORES).is_file() and files.path(run_dir, files.FOLDS).is_file():
        return "trial"
    if files.has_config(run_dir):
        return "unfinished"
    return "none"


def is_finished(run_dir: str | Path) -> bool:
    """A run that wrote its summary (and, for a single run, its bundle): nothing to resume."""
    kind = run_kind(run_dir)
    if kind == "single":
        return files.has_bundle(run_dir)
    return kind in ("cv", "baseline")
