"""summary.json: the typed, versioned record of a finished run, and its one reader and writer.

The file stays one flat JSON object (the keys the README documents, such as ``cv_mean``,
``val_final`` or ``cache``, stay where users look for them): the fields every kind of run shares
(`RunSummary`'s own) plus a kind-specific part (`RunSummary.extra`: a single run's best epoch and
its metrics, a CV run's per-fold scores, a baseline's features, a task's own keys).
``schema_version`` says which layout it is; files without one (written before it existed) are
version 1 and read as they were written: a single run's, a CV run's and a baseline's layout each.

>>> s = read_summary("runs/simple_cnn-20260101-120000")
>>> s.kind, s.main_metric, s.score, s.higher_is_better
('single', 'val_acc', 0.91, True)
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from visionfit.errors import RunError
from visionfit.fileio import atomic_write_text, json_safe
from visionfit.runs.files import SUMMARY, path, read_json

SCHEMA_VERSION = 2
FINISHED_KINDS = ("single", "cv", "baseline")  # the kinds of run that write a summary.json


def metric_higher_is_better(metric: str | None) -> bool:
    """Losses and errors go down, every other score goes up (the default for old summaries
    that did not say; a new one states it)."""
    name = (metric or "").lower()
    return not name.endswith(("loss", "error", "mae", "mse", "rmse"))


@dataclass
class RunSummary:
    """What every finished run records, whatever its kind; `extra`: the kind's own part."""

    kind: str  # single | cv | baseline
    task: str | None = None  # the label mode: binary, multiclass, multilabel, soft, segment...
    classes: list[str] = field(default_factory=list)
    main_metric: str | None = None  # the headline metric's name (as in the metrics tables)
    score: float | None = None  # its value: best epoch (single); mean over folds (cv, baseline)
    higher_is_better: bool | None = None  # None: from the metric's name
    model_name: str | None = None
    monitor: str | None = None
    seconds: float | None = None
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    n_samples: int | None = None
    folds: int | None = None
    skipped_files: int | None = None  # unusable files left out (listed in skipped.csv)
    ignored_files: Any = None  # files ignored by extension, as the scan counted them
    notes: list[str] = field(default_factory=list)
    test: dict = field(default_factory=dict)  # the test split's scores ({} without one)
    run_dir: str | None = None
    extra: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.higher_is_better is None and self.main_metric:
            self.higher_is_better = metric_higher_is_better(self.main_metric)
        own = {f.name for f in fields(self)}
        clash = own & set(self.extra)
        if clash:  # a shared field given twice: the typed one wins, the copy is dropped
            self.extra = {k: v for k, v in self.extra.items() if k not in clash}

    def get(self, key: str, default=None):
        """Any key of the file, shared or kind-specific (as the flat JSON has it)."""
        if key in _OWN and key != "extra":
            value = getattr(self, key)
            return default if value is None else value
        return self.extra.get(key, default)

    def __getitem__(self, key: str):
        if key in _OWN and key != "extra":
            return getattr(self, key)
        return self.extra[key]

    def __contains__(self, key: object) -> bool:
        return (key in _OWN and key != "extra" and getattr(self, key) is not None) or (
            key in self.extra
        )

    def to_json(self) -> dict:
        """The flat object summary.json holds: the shared fields, then the kind's own keys."""
        out = {k: v for k, v in asdict(self).items() if k != "extra"}
        out = {"schema_version": out.pop("schema_version"), **out}
        return json_safe({**out, **self.extra})

    @classmethod
    def of(cls, kind: str, **values) -> RunSummary:
        """A summary from keyword values: the shared fields by name, every other key goes to
        the kind's own part (`extra`). A CV-like run without a `score` gets the mean over folds
        of its main metric (``cv_mean[main_metric]``)."""
        known = {k: values.pop(k) for k in list(values) if k in _OWN and k != "extra"}
        extra = {**values.pop("extra", {}), **values}
        if known.get("score") is None and known.get("main_metric"):
            known["score"] = (extra.get("cv_mean") or {}).get(known["main_metric"])
        return cls(kind=kind, **known, extra=extra)

    @classmethod
    def from_json(cls, raw: dict, where: str = SUMMARY) -> RunSummary:
        """Any layout written so far: this version's, or a version 1 single / cv / baseline."""
        if not isinstance(raw, dict):
            raise RunError(f"{where} is not a run summary (not a JSON object)")
        version = raw.get("schema_version") or 1
        if type(version) is not int:
            raise RunError(f"{where}: schema_version is not a number: restore the file or retrain")
        if version > SCHEMA_VERSION:
            raise RunError(
                f"{where} has summary schema {version}; this visionfit reads up to "
                f"{SCHEMA_VERSION}: upgrade visionfit to read it"
            )
        raw = dict(raw)
        raw.pop("schema_version", None)
        if version == 1:
            raw = _from_v1(raw)
        known = {k: raw.pop(k) for k in list(raw) if k in _OWN and k != "extra"}
        known.setdefault("kind", "single")
        return cls(**known, extra=raw)


_OWN = {f.name for f in fields(RunSummary)}


# What the runs table of version 1 took as the headline of a summary that named none (a
# fact about files already written, not a rule for new runs: those state their main metric).
_V1_MAIN_METRIC = {"binary": "val_auroc", "multilabel": "val_auroc"}


def _from_v1(raw: dict) -> dict:
    """Version 1 (no schema_version): the three writers' own layouts, filled in."""
    kind = raw.setdefault("kind", "single")
    if kind == "single":
        val = raw.get("val_score") or {}
        best = raw.get("best_metrics") or {}
        metric = (
            raw.get("main_metric")
            or _V1_MAIN_METRIC.get(str(raw.get("task")))
            or ("val_acc" if "val_acc" in best else None)
            or val.get("metric")
            or raw.get("monitor")
        )
        raw["main_metric"] = metric
        if raw.get("score") is None:
            raw["score"] = val.get("value", best.get(metric))
    else:  # cv and baseline: the headline is the mean over folds
        if raw.get("score") is None:
            raw["score"] = (raw.get("cv_mean") or {}).get(raw.get("main_metric"))
        if kind == "baseline" and not raw.get("model_name") and raw.get("model"):
            raw["model_name"] = str(raw["model"])
    if raw.get("skipped_files") is None and isinstance(raw.get("skipped"), list):
        raw["skipped_files"] = len(raw["skipped"])
    if raw.get("test") is None:
        raw["test"] = {}
    if raw.get("notes") is None:
        raw["notes"] = []
    score = raw.get("score")
    if isinstance(score, float) and math.isnan(score):
        raw["score"] = None
    return raw


def write_summary(run_dir: str | Path, summary: RunSummary) -> Path:
    """summary.json, atomically: its presence says the run finished."""
    out = path(run_dir, SUMMARY)
    atomic_write_text(out, json.dumps(summary.to_json(), indent=2))
    return out


def has_summary(run_dir: str | Path) -> bool:
    return path(run_dir, SUMMARY).is_file()


def read_summary(run_dir: str | Path) -> RunSummary:
    """The run's summary.json, typed; RunError when it has none or it is damaged."""
    p = path(run_dir, SUMMARY)
    if not p.is_file():
        raise RunError(
            f"{Path(run_dir)} is not a finished run: it has no {SUMMARY} "
            "(runs are made by visionfit train / baseline)"
        )
    raw = read_json(p)
    return RunSummary.from_json(raw, str(p))


def try_read_summary(run_dir: str | Path) -> RunSummary | None:
    """The summary, or None when there is none or it cannot be read (listing many runs)."""
    try:
        return read_summary(run_dir)
    except RunError:
        return None


def cv_fields(scores) -> dict:
    """A cross-validation's scores as summary.json names them: `scores` has main_metric, mean,
    std, oof and per_fold (a task's CV scores object)."""
    return {
        "main_metric": scores.main_metric,
        "cv_mean": scores.mean,
        "cv_std": scores.std,
        "oof": scores.oof,
        "per_fold": scores.per_fold,
    }
