"""Labels that are more than one class name per image: multi-label and soft (probability) labels.

A CSV gives them either as several columns (``--label-cols a,b,c``: 0/1 for multi-label,
probabilities for ``--task soft``, one-hot for ``--task multiclass``) or as one column of
delimited names (``--label-delim " "``: multi-label).

The samples table keeps its single-label columns and adds one:
  label    positive class names joined by a space (multi-label) or the arg-max class (soft)
  target   -1 (multi-label) or the arg-max class index (soft)
  targets  a float32 vector per image: 0/1 per label, or class probabilities summing to 1
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from visionfit.config import DataConfig
from visionfit.errors import DataError

VECTOR_KINDS = ("multilabel", "soft")


def sorted_classes(labels) -> list[str]:
    """Sort class names; numerically when every name is an integer ("2" before "10")."""
    names = sorted(set(labels))
    if all(_is_int(n) for n in names):
        return sorted(names, key=int)
    return names


def _is_int(s: str) -> bool:
    try:
        int(s)
    except ValueError:
        return False
    return True


@dataclass
class VectorLabels:
    kind: str  # "multilabel", "soft" or "single" (one-hot columns decoded to class names)
    classes: list[str]
    label: list[str]
    target: np.ndarray  # int64 (N,)
    targets: np.ndarray | None  # float32 (N, C); None for "single"
    notes: list[str] = field(default_factory=list)


ColumnReader = Callable[[list[str], np.ndarray, pd.Index, str], VectorLabels]
"""What numeric label columns mean: (column names, values (N, C), the CSV rows' index, the CSV's
name) -> labels. A task's label mode picks one (tasks/classification/labels.py)."""


def stack_targets(df: pd.DataFrame) -> np.ndarray:
    """The (N, C) float32 target matrix of a multi-label / soft samples table (or a slice)."""
    if len(df) == 0:
        return np.zeros((0, 0), np.float32)
    return np.stack([np.asarray(t, np.float32) for t in df["targets"]])


def parse_vector_labels(
    raw: pd.DataFrame, cfg: DataConfig, csv_name: str, read_columns: ColumnReader | None = None
) -> VectorLabels:
    """Read `cfg.label_cols` / `cfg.label_delim` labels from the CSV rows in `raw` (all str).

    `read_columns` says what numeric label columns mean (the task's label mode decides:
    tasks/classification/labels.py); by default they are 0/1 indicators (multi-label)."""
    if cfg.label_cols and cfg.label_delim is not None:
        raise DataError("give either --label-cols or --label-delim, not both")
    if cfg.label_delim is not None:
        return _from_delimited(raw, cfg, csv_name)
    return _from_columns(raw, cfg, csv_name, read_columns)


def _from_delimited(raw: pd.DataFrame, cfg: DataConfig, csv_name: str) -> VectorLabels:
    if cfg.task not in ("auto", "multilabel"):
        raise DataError(
            f"--label-delim gives multi-label data; it does not go with --task {cfg.task} "
            "(use --task multilabel or leave --task auto)"
        )
    delim = cfg.label_delim or None  # "" means any whitespace
    tokens = [
        sorted({t.strip() for t in str(v).split(delim) if t.strip()}) for v in raw[cfg.label_col]
    ]
    classes = sorted_classes(t for row in tokens for t in row)
    if not classes:
        raise DataError(f"column {cfg.label_col!r} of {csv_name} holds no labels")
    index = {c: i for i, c in enumerate(classes)}
    targets = np.zeros((len(raw), len(classes)), np.float32)
    for i, row in enumerate(tokens):
        targets[i, [index[t] for t in row]] = 1.0
    return multilabel_labels(classes, targets)


def _from_columns(
    raw: pd.DataFrame, cfg: DataConfig, csv_name: str, read_columns: ColumnReader | None
) -> VectorLabels:
    cols = list(cfg.label_cols or [])
    missing = [c for c in cols if c not in raw.columns]
    if missing:
        raise DataError(
            f"label column(s) {', '.join(map(repr, missing))} not in {csv_name}; columns are: "
            f"{', '.join(raw.columns)} (choose them with --label-cols a,b,c)"
        )
    if len(set(cols)) != len(cols):
        raise DataError(f"--label-cols names a column twice: {', '.join(cols)}")
    values = raw[cols].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1)
    if bad.any():
        lines = ", ".join(str(i + 2) for i in raw.index[bad][:5])
        raise DataError(
            f"{int(bad.sum())} CSV rows of {csv_name} have an empty or non-numeric value in "
            f"--label-cols {','.join(cols)} (lines {lines})"
        )
    m = values.to_numpy(np.float64)
    return (read_columns or read_indicator_columns)(cols, m, raw.index, csv_name)


def read_indicator_columns(
    cols: list[str], m: np.ndarray, index: pd.Index, csv_name: str
) -> VectorLabels:
    """The task-neutral reading of label columns: 0/1 indicators per label (multi-label)."""
    if not np.isin(m, (0.0, 1.0)).all():
        raise DataError(
            f"--label-cols {','.join(cols)} hold values other than 0 and 1: for "
            "probabilities (soft labels) add --task soft"
        )
    return multilabel_labels(cols, m.astype(np.float32))


def multilabel_labels(classes: list[str], targets: np.ndarray) -> VectorLabels:
    label = [" ".join(c for c, t in zip(classes, row, strict=True) if t) for row in targets]
    return VectorLabels(
        "multilabel", list(classes), label, np.full(len(targets), -1, np.int64), targets
    )
