"""Classification's label modes: which one a dataset has, given what the user asked for."""

from __future__ import annotations

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
