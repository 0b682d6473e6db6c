"""`visionfit evaluate RUN DATA` (Ultralytics' `val`): a finished run scored on labelled data.

The run is loaded as `visionfit predict` loads it (`visionfit.load`: a single run, the fold
ensemble of a K-fold run, its refit/, a baseline, an auto ensemble), DATA is read as `train`
reads it (the run's own data settings, where the data is and any data option given replacing
them) and its labels are put in the run's class order (`Task.align_classes`). The task then
scores it with the code that scores a run's test split (`Task.score_split`), so the numbers are
those training reports for the same images, and adds its files (`Task.evaluation_files`).

Everything goes into a new folder (RUN/evaluate, RUN/evaluate-2, ... or an empty --out):
metrics.json, predictions.csv, the task's tables and plots, skipped.csv and report.html.

>>> ev = evaluate("runs/simple_cnn-20260101-120000", {"data.path": "test_images"})
>>> ev.score, ev.out_dir
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from visionfit.config import RunConfig
from visionfit.errors import RunError
from visionfit.fileio import atomic_write_csv, atomic_write_text, json_safe
from visionfit.reports.evaluation_leakage import evaluation_leakage
from visionfit.runs import files as run_files
from visionfit.runs.kind import REFIT_DIR, model_kind, run_kind
from visionfit.runs.rundir import create_numbered_dir
from visionfit.tasks.base import EvaluationArgs, EvaluationFiles, ScoreSplit
from visionfit.tasks.intervals import headline_interval

EVALUATE_DIR = "evaluate"  # RUN/evaluate, RUN/evaluate-2, ...
METRICS = "metrics.json"
# Where the data is: the run's own values (its training data) never carry over to DATA.
LOCATION_KEYS = ("data.path", "data.csv", "data.root", "data.split_col")


@dataclass
class Evaluation:
    """What `evaluate` wrote and found (metrics.json holds the same)."""

    out_dir: Path
    run_dir: Path
    model: str  # what was scored, in words: "the fold ensemble (5 models)", ...
    data: str
    metric: str
    score: float | None
    scores: dict
    n_images: int
    skipped: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interval: dict | None = None  # the score's 95 % bootstrap interval (tasks/intervals.py)
    # images near-duplicate to the run's training images (reports/evaluation_leakage.py)
    leakage: dict = field(default_factory=dict)


def evaluate(
    run_dir: str | Path,
    overrides: Mapping[str, object],
    *,
    out: str | Path | None = None,
    tta: bool | str | None = None,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
) -> Evaluation:
    """Score the finished run `run_dir` on the labelled data `overrides` names (config keys:
    data.path, data.csv, ... as `train` takes them) into a new folder (see the module)."""
    from visionfit.inference.loading import load_run

    run_dir = Path(run_dir)
    _check_run(run_dir)
    predictor = load_run(run_dir)
    task = predictor.task_impl
    cfg = data_config(run_dir, overrides, task)
    data = task.load_data(cfg, progress=progress)
    data = task.align_classes(data, list(predictor.classes), str(predictor.meta.get("task", "")))
    if data.df.empty:
        raise RunError(f"no labelled images to evaluate in {_where(cfg)}")
    out_dir = new_output_dir(run_dir, out)
    if say is not None:
        say(f"evaluating {describe_model(run_dir, predictor)} on {len(data.df)} images")
    mode = _tta_mode(predictor.meta.get("tta", "none") if tta is None else tta)
    scored = task.score_split(
        ScoreSplit(cfg, data, predictor, data.df, out_dir, split="", tta=mode, progress=progress)
    )
    extra = task.evaluation_files(EvaluationArgs(predictor, data, data.df, out_dir, scored))
    leakage, leak_notes = evaluation_leakage(task, cfg, data, run_dir, out_dir)
    ev = Evaluation(
        out_dir=out_dir,
        run_dir=run_dir,
        model=describe_model(run_dir, predictor),
        data=_where(cfg),
        metric=str(scored.get("metric", "")),
        score=scored.get("score"),
        scores=dict(scored.get("scores") or {}),
        n_images=len(data.df),
        skipped=data.skipped,
        notes=[*data.notes, *extra.notes, *leak_notes],
        leakage=leakage,
        interval=headline_interval(
            task, data, data.df, out_dir, "", resamples=cfg.train.bootstrap, seed=cfg.train.seed
        ),
    )
    _write(ev, extra, tta=mode)
    return ev


def data_config(run_dir: Path, overrides: Mapping[str, object], task) -> RunConfig:
    """The run's data settings (and its task's section: mask format, RLE columns) with where
    the data lies replaced by `overrides`; a baseline's config.yaml gives its data section."""
    raw = run_files.read_config_dict(run_dir)
    if not raw:
        raise RunError(f"{run_dir} has no readable {run_files.CONFIG}: it is not a visionfit run")
    keep = {"data": dict(raw.get("data") or {})}
    key = (task.config_section or (None,))[0]
    if key and isinstance(raw.get(key), dict):
        keep[key] = raw[key]
    cfg = RunConfig.from_dict(keep, origin=str(run_dir / run_files.CONFIG))
    reset = {k: None for k in LOCATION_KEYS}
    return cfg.with_overrides({**reset, **dict(overrides)})


def new_output_dir(run_dir: Path, out: str | Path | None, name: str = EVALUATE_DIR) -> Path:
    """--out (a new or empty folder), else RUN/<name>, RUN/<name>-2, ... (never reused)."""
    if out is None:
        return create_numbered_dir(run_dir, name)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(f"--out {out} exists and is not an empty folder; choose a new one")
    out.mkdir(parents=True, exist_ok=True)
    return out


def describe_model(run_dir: Path, predictor) -> str:
    """Which model of the run was scored, in words."""
    kind = run_kind(run_dir)
    if kind == "cv":
        return f"the fold ensemble ({len(predictor.models)} models)"
    if kind == "ensemble":  # `visionfit auto`'s: runs of one network with other seeds
        return f"the ensemble ({len(getattr(predictor, 'models', []))} models)"
    if kind == "baseline":
        return f"the baseline ({predictor.meta.get('model', 'scikit-learn')})"
    if kind == "fold":
        if run_dir.name == REFIT_DIR:
            return "the refit model (trained on all images)"
        return f"the model of {run_dir.name}"
    return "the run's model"


def _check_run(run_dir: Path) -> None:
    if not run_dir.is_dir():
        raise RunError(f"run directory not found: {run_dir}")
    if run_kind(run_dir) == "auto" and model_kind(run_dir) is None:
        raise RunError(
            f"{run_dir} is a visionfit auto folder: evaluate its best run ({run_dir / 'best'}) "
            "or its ensemble-<name>/ folder"
        )
    if model_kind(run_dir) is None:
        raise RunError(
            f"{run_dir} holds no model to evaluate (no model.json): give a finished run "
            "directory (a single run, a K-fold run, its refit/, a baseline)"
        )


def _tta_mode(tta: bool | str) -> str:
    """--tta / --no-tta as the mode it means (hflip / none); a mode's name as it is."""
    return tta if isinstance(tta, str) else ("hflip" if tta else "none")


def _where(cfg: RunConfig) -> str:
    return str(cfg.data.csv or cfg.data.path)


def _write(ev: Evaluation, extra: EvaluationFiles, *, tta) -> None:
    from visionfit.reports.evaluation_page import write_page

    out = ev.out_dir
    if not ev.skipped.empty:
        atomic_write_csv(out / "skipped.csv", ev.skipped)
        ev.files.append(out / "skipped.csv")
    metrics = {
        "run": str(ev.run_dir),
        "model": ev.model,
        "data": ev.data,
        "n_images": ev.n_images,
        "n_skipped": len(ev.skipped),
        "tta": tta,
        "metric": ev.metric,
        "score": ev.score,
        "scores": ev.scores,
        "interval": ev.interval,
        **ev.leakage,
        "scored": "visionfit.load(run) predictions, scored as the run's test split is",
    }
    atomic_write_text(out / METRICS, json.dumps(json_safe(metrics), indent=2))
    ev.files = [out / METRICS, out / "predictions.csv", *extra.files, *ev.files]
    ev.files.append(write_page(ev, extra))
