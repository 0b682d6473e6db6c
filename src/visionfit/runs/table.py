"""The table of runs: every run directory under a runs folder, one row each, from its
summary.json and config.yaml — the experiment spreadsheet, filled in automatically.

Columns: run, kind (single / cv / baseline), task, model, img_size, augment, lr, epochs, folds,
metric (the run's main metric: ROC AUC for binary and multi-label, accuracy otherwise), score
(the best epoch's value for a single run; the mean over folds for CV and baselines), std (over
folds), oof (pooled out-of-fold), low and high (the 95 % bootstrap interval of the headline: the
validation score of a single run, the pooled out-of-fold score of a CV run; summary.json's
`interval`; empty for runs without one), seconds, started. `sort="low"` ranks runs by the
lower bound: the score a run is fairly sure to reach on images like its validation images.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pandas as pd

from visionfit.errors import RunError
from visionfit.runs.files import read_config_dict
from visionfit.runs.kind import summary_kind
from visionfit.runs.summary import (
    FINISHED_KINDS,
    RunSummary,
    metric_higher_is_better,
    try_read_summary,
)

COLUMNS = [
    "run",
    "kind",
    "task",
    "model",
    "img_size",
    "augment",
    "lr",
    "epochs",
    "folds",
    "metric",
    "score",
    "std",
    "oof",
    "low",
    "high",
    "seconds",
    "started",
]


def list_runs(runs_dir: str | Path = "runs", sort: str | None = None) -> pd.DataFrame:
    """One row per finished run under `runs_dir` (directories with a summary.json).

    `sort` is a column name (ascending for run/kind/model/started, else descending) or a metric
    name such as val_auroc or val_loss: then a column of that metric is added (best value for
    single runs, mean over folds otherwise) and the table is sorted best first.

    >>> list_runs("runs", sort="val_auroc").head()
    """
    root = Path(runs_dir)
    if not root.is_dir():
        raise RunError(f"runs folder not found: {root} (runs are made by visionfit train)")
    rows = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if summary_kind(d) not in FINISHED_KINDS:
            continue
        summary = try_read_summary(d)
        if summary is None:
            continue
        rows.append(_row(d, summary, read_config_dict(d), sort))
    df = pd.DataFrame(rows, columns=[*COLUMNS, *([sort] if _is_metric(sort) else []), _HIB])
    if sort:
        df = _sorted(df, sort)
    return df.drop(columns=_HIB).reset_index(drop=True)


_HIB = "_higher_is_better"  # the row's own direction (its summary says): sorting by score


_NUMERIC = {"img_size", "lr", "epochs", "folds", "score", "low", "high", "seconds"}


def _row(d: Path, s: RunSummary, cfg: dict, sort: str | None) -> dict:
    kind = s.kind
    task = s.task or cfg.get("data", {}).get("task")
    metric = s.main_metric
    if kind == "baseline":
        model = f"{cfg.get('model', s.get('model'))} ({cfg.get('features', 'pixels')})"
        if cfg.get("pca"):
            model += f" pca{cfg['pca']}"
        img_size, augment, lr, epochs = cfg.get("size"), "", None, None
    else:
        model = s.model_name or cfg.get("model", {}).get("name", s.get("model"))
        img_size = cfg.get("augment", {}).get("img_size")
        augment = cfg.get("augment", {}).get("preset")
        lr = cfg.get("train", {}).get("lr")
        epochs = cfg.get("train", {}).get("epochs")
    value = s.score
    if kind == "single":
        std = oof = folds = None
    else:
        std = (s.get("cv_std") or {}).get(metric)
        oof = (s.get("oof") or {}).get(metric)
        folds = s.folds
    row = {
        "run": d.name,
        "kind": kind,
        "task": task,
        "model": model,
        "img_size": img_size,
        "augment": augment,
        "lr": lr,
        "epochs": epochs,
        "folds": folds,
        "metric": metric,
        "score": value,
        "std": std,
        "oof": oof,
        **_interval_bounds(s),
        "seconds": s.seconds,
        _HIB: s.higher_is_better is not False,
        "started": _started(d),
    }
    if _is_metric(sort):
        if kind == "single":
            row[sort] = s.get("best_metrics", {}).get(sort)
        else:
            row[sort] = (s.get("cv_mean") or {}).get(sort)
    return row


def _interval_bounds(s: RunSummary) -> dict:
    """The headline interval's low / high (None for runs without one: older, or --bootstrap 0)."""
    iv = s.get("interval")
    if not isinstance(iv, dict):
        return {"low": None, "high": None}
    return {"low": iv.get("low"), "high": iv.get("high")}


def _started(d: Path) -> str:
    """From the run name's stamp (<name>-YYYYmmdd-HHMMSS[-n]), else the folder's mtime."""
    m = re.search(r"(\d{8})-(\d{6})(?:-\d+)?$", d.name)
    if m:
        try:
            return datetime.strptime("".join(m.groups()), "%Y%m%d%H%M%S").strftime(
                "%Y-%m-%d %H:%M:%S"
            )
        except ValueError:
            pass
    try:
        return datetime.fromtimestamp(d.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    except OSError:
        return ""


def _is_metric(sort: str | None) -> bool:
    return bool(sort) and sort not in COLUMNS and sort.startswith(("val_", "train_"))


def _sorted(df: pd.DataFrame, sort: str) -> pd.DataFrame:
    if sort not in df.columns:
        raise RunError(
            f"cannot sort by {sort!r}: use a column ({', '.join(COLUMNS)}) or a metric such as "
            "val_auroc, val_acc, val_loss"
        )
    if sort in ("run", "kind", "task", "model", "augment", "metric", "started"):
        return df.sort_values(sort, kind="stable")
    if sort == "score":  # best first, whichever way each run's own metric goes
        score = pd.to_numeric(df["score"], errors="coerce")
        signed = score.where(df[_HIB].astype(bool), -score)
        order = signed.sort_values(ascending=False, kind="stable", na_position="last").index
        return df.loc[order]
    ascending = sort == "seconds" or (_is_metric(sort) and not metric_higher_is_better(sort))
    return df.sort_values(sort, ascending=ascending, kind="stable", na_position="last")
