"""Classification's label modes: which one a dataset has, given what the user asked for."""

from __future__ import annotations

import functools

import numpy as np

from visionfit.data.labels import ColumnReader, VectorLabels, read_indicator_columns
from visionfit.errors import DataError


def resolve_label_mode(samples, task: str) -> str:
    """'binary' for two classes, 'multiclass' for more, unless the user said otherwise."""
    n = len(samples.classes)
    if samples.label_kind != "single":
        return samples.label_kind
    if task in ("multilabel", "soft"):
        raise DataError(
            f"--task {task} needs label columns: --csv FILE --label-cols a,b,c"
            + (" (or --label-delim ' ' for one column of names)" if task == "multilabel" else "")
        )
    if task == "auto":
        return "binary" if n == 2 else "multiclass"
    if task == "binary" and n != 2:
        raise DataError(f"--task binary needs exactly 2 classes, found {n}: {samples.classes[:10]}")
    return task


def label_column_reader(mode: str) -> ColumnReader:
    """What `--label-cols` mean in label mode `mode` (data/labels.py reads the numbers):
    0/1 per label (auto, multilabel), probabilities per class (soft), or one-hot rows naming one
    class (binary, multiclass)."""
    if mode in ("auto", "multilabel"):
        return read_indicator_columns
    if mode == "soft":
        return _probability_columns
    return functools.partial(_one_hot_columns, mode)


def _positive_rows(cols: list[str], m: np.ndarray, index, csv_name: str) -> np.ndarray:
    if (m < 0).any():
        raise DataError(f"--label-cols {','.join(cols)} hold negative values")
    sums = m.sum(axis=1)
    if (sums <= 0).any():
        lines = ", ".join(str(i + 2) for i in index[sums <= 0][:5])
        raise DataError(f"CSV rows of {csv_name} with all label columns 0 (lines {lines})")
    return sums


def _probability_columns(cols: list[str], m: np.ndarray, index, csv_name: str) -> VectorLabels:
    sums = _positive_rows(cols, m, index, csv_name)
    notes = []
    if not np.allclose(sums, 1.0, atol=1e-3):
        notes.append(
            "soft labels did not sum to 1 on every row (votes or counts?): "
            "each row was divided by its sum"
        )
    p = (m / sums[:, None]).astype(np.float32)
    target = p.argmax(axis=1)
    return VectorLabels("soft", cols, [cols[j] for j in target], target.astype(np.int64), p, notes)


def _one_hot_columns(
    mode: str, cols: list[str], m: np.ndarray, index, csv_name: str
) -> VectorLabels:
    sums = _positive_rows(cols, m, index, csv_name)
    if not np.isin(m, (0.0, 1.0)).all() or not np.allclose(sums, 1.0):
        raise DataError(
            f"--task {mode} with --label-cols needs one-hot rows (exactly one 1 per row); "
            "for several labels per image use --task multilabel, for probabilities --task soft"
        )
    target = m.argmax(axis=1)
    return VectorLabels("single", cols, [cols[j] for j in target], target.astype(np.int64), None)
