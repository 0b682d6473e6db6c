"""The table of runs: every run directory under a runs folder, one row each, from its
summary.json and config.yaml — the experiment spreadsheet, filled in automatically.

Columns: run, kind (single / cv / baseline), task, model, img_size, augment, lr, epochs, folds,
metric (the run's main metric: ROC AUC for binary and multi-label, accuracy otherwise), score
(the best epoch's value for a single run; the mean over folds for CV and baselines), std (over
folds), oof (pooled out-of-fold), seconds, started.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import yaml

from visionfit.errors import RunError

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
        summary_path = d / "summary.json"
        if not summary_path.is_file():
            continue
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        rows.append(_row(d, summary, _read_config(d), sort))
    df = pd.DataFrame(rows, columns=[*COLUMNS, *([sort] if _is_metric(sort) else [])])
    if sort:
        df = _sorted(df, sort)
    return df.reset_index(drop=True)


_NUMERIC = {"img_size", "lr", "epochs", "folds", "score", "seconds"}


def _older_main_metric(s: dict) -> str:
    """Summaries written before they named their metric: ROC AUC where they have it."""
    scores = {**(s.get("best_metrics") or {}), **(s.get("cv_mean") or {})}
    return "val_auroc" if "val_auroc" in scores else "val_acc"


def _higher_is_better(metric: str) -> bool:
    return not metric.endswith("loss")


def _row(d: Path, s: dict, cfg: dict, sort: str | None) -> dict:
    kind = s.get("kind", "single")
    task = s.get("task") or cfg.get("data", {}).get("task")
    metric = s.get("main_metric") or _older_main_metric(s)
    if kind == "baseline":
        model = f"{cfg.get('model', s.get('model'))} ({cfg.get('features', 'pixels')})"
        if cfg.get("pca"):
            model += f" pca{cfg['pca']}"
        img_size, augment, lr, epochs = cfg.get("size"), "", None, None
    else:
        model = s.get("model_name") or cfg.get("model", {}).get("name", s.get("model"))
        img_size = cfg.get("augment", {}).get("img_size")
        augment = cfg.get("augment", {}).get("preset")
        lr = cfg.get("train", {}).get("lr")
        epochs = cfg.get("train", {}).get("epochs")
    if kind == "single":
        value = s.get("score", s.get("best_metrics", {}).get(metric))
        std = oof = None
        folds = None
    else:
        value = (s.get("cv_mean") or {}).get(metric)
        std = (s.get("cv_std") or {}).get(metric)
        oof = (s.get("oof") or {}).get(metric)
        folds = s.get("folds")
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
        "seconds": s.get("seconds"),
        "started": _started(d),
    }
    if _is_metric(sort):
        if kind == "single":
            row[sort] = s.get("best_metrics", {}).get(sort)
        else:
            row[sort] = (s.get("cv_mean") or {}).get(sort)
    return row


def _read_config(d: Path) -> dict:
    try:
        return yaml.safe_load((d / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


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
    ascending = sort == "seconds" or (_is_metric(sort) and not _higher_is_better(sort))
    return df.sort_values(sort, ascending=ascending, kind="stable", na_position="last")
