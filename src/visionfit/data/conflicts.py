"""A CSV that gives one file two labels: refused, or resolved as the user says.

Single-label data: rows naming the same file with different labels conflict (the same label
twice is a repeated row, kept once). Multi-label and soft labels: two rows for one file conflict
whatever they say (a row is the file's whole label vector). `--conflicting-labels` (config
`data.conflicting_labels`) decides: error (the default: train refuses, check reports), first or
last (that row wins), drop (the file is left out).
"""

from __future__ import annotations

import pandas as pd

from visionfit.errors import DataError
from visionfit.text import plural

POLICIES = ("error", "first", "last", "drop")
HOW_TO_DECIDE = (
    "fix the CSV, or say which row wins with --conflicting-labels first|last "
    "(or drop to leave such files out)"
)


def find_conflicts(df: pd.DataFrame, vector: bool) -> list[dict]:
    """Files with conflicting rows: {"image", "labels", "lines"} (CSV lines, header = 1)."""
    repeated = df[df.duplicated("image", keep=False)]
    out = []
    for image, rows in repeated.groupby("image", sort=True):
        labels = list(dict.fromkeys(rows["label"]))
        if vector or len(labels) > 1:
            out.append(
                {
                    "image": str(image),
                    "labels": [str(v) for v in rows["label"]],
                    "lines": [int(v) for v in rows["line"]],
                }
            )
    return out


def describe(conflicts: list[dict], n: int = 3) -> str:
    """'a.png (line 2: cat, line 9: dog); ...' for the first `n` files."""
    parts = []
    for c in conflicts[:n]:
        rows = ", ".join(
            f"line {ln}: {lab}" for ln, lab in zip(c["lines"], c["labels"], strict=True)
        )
        parts.append(f"{c['image']} ({rows})")
    more = f"; and {len(conflicts) - n} more" if len(conflicts) > n else ""
    return "; ".join(parts) + more


def resolve_conflicts(samples, policy: str, *, report: bool = False) -> None:
    """Apply `policy` to `samples` (data/sources.Samples of a CSV, with its `line` column, which
    is dropped here). "error" raises a DataError naming the files, or with `report` leaves
    them out and lists them in `samples.conflicts` (check reports them as a problem)."""
    if policy not in POLICIES:
        raise DataError(
            f"unknown --conflicting-labels {policy!r}; choose from {', '.join(POLICIES)}"
        )
    df = samples.df
    conflicts = find_conflicts(df, samples.label_kind != "single")
    bad = {c["image"] for c in conflicts}
    if conflicts and policy == "error" and not report:
        raise DataError(
            f"conflicting labels in the CSV for {plural(len(conflicts), 'file')}: "
            f"{describe(conflicts)}; {HOW_TO_DECIDE}"
        )
    if policy in ("error", "drop"):
        df = df[~df["image"].isin(bad)]
    else:
        in_conflict = df["image"].isin(bad)
        winners = df[in_conflict].drop_duplicates("image", keep=policy)
        df = pd.concat([df[~in_conflict], winners]).sort_index()
    repeats = int(df.duplicated("image").sum())
    df = df.drop_duplicates("image")  # the same label twice: one sample
    samples.df = df.drop(columns="line").reset_index(drop=True)
    if policy == "error":
        samples.conflicts = conflicts
    elif conflicts:
        what = {"first": "the first row kept", "last": "the last row kept", "drop": "left out"}
        samples.notes.append(
            f"{plural(len(conflicts), 'file')} with conflicting labels in the CSV: "
            f"{what[policy]} (--conflicting-labels {policy}), e.g. {describe(conflicts, 1)}"
        )
    if repeats:
        samples.notes.append(
            f"{plural(repeats, 'CSV row')} repeat a file with its label: counted once"
        )
