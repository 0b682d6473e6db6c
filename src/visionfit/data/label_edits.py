"""Label edits a user hands back to `train`: `--exclude FILE` and `--relabel FILE`.

Both take a CSV with an `image` column, typically `visionfit audit`'s label_issues.csv after
editing (read by the one user-CSV reader, usercsv.py):

- `--exclude FILE` (`data.exclude`): every image of the file is left out, or, when the file has
  an `exclude` column with any non-empty cell, only the rows whose `exclude` is truthy (1, yes,
  true, y, x); an unedited label_issues.csv (a `flagged` column, no marks): its flagged rows;
  left-out images are listed in the run's skipped.csv with reason `excluded`;
- `--relabel FILE` (`data.relabel`): rows with a non-empty `relabel` cell give the image that
  class (single-label classification); a class the data does not have is a one-line error.

Images are matched by their path as the run recorded it (absolute), or as written relative to
the current folder. `apply_label_edits` is called once, where the samples are read for training
(data/check.py `drop_unusable`; segmentation's loader for `--exclude`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pandas as pd

from visionfit.errors import DataError
from visionfit.usercsv import read_user_csv

EXCLUDED = "excluded"
TRUTHY = {"1", "yes", "y", "true", "t", "x", "exclude"}
FALSY = {"", "0", "no", "n", "false", "f"}


@dataclass
class LabelEdits:
    exclude: set[str] = field(default_factory=set)  # normalised image paths
    relabel: dict[str, str] = field(default_factory=dict)  # normalised image path -> class

    def __bool__(self) -> bool:
        return bool(self.exclude or self.relabel)


def _key(path: str) -> str:
    return os.path.normpath(os.path.abspath(str(path)))


def _truthy(value: str, p, line: int) -> bool:
    v = str(value).strip().lower()
    if v in TRUTHY:
        return True
    if v in FALSY:
        return False
    raise DataError(
        f"{p}: the exclude column of row {line} is {value!r}; write 1/yes/true to leave the "
        "image out, or leave it empty"
    )


def read_label_edits(exclude: str | None, relabel: str | None) -> LabelEdits:
    """The edits `data.exclude` / `data.relabel` name (empty when neither is given)."""
    edits = LabelEdits()
    if exclude:
        t = read_user_csv(exclude, required=["image"], what="--exclude file", allow_empty=True)
        rows = t.df
        if "exclude" in rows and (rows["exclude"].astype(str).str.strip() != "").any():
            keep = [_truthy(v, t.path, i + 2) for i, v in enumerate(rows["exclude"])]
            rows = rows[keep]
        elif (
            "flagged" in rows
        ):  # audit's file as written: its flagged rows, not the look-further ones
            keep = [_truthy(v, t.path, i + 2) for i, v in enumerate(rows["flagged"])]
            rows = rows[keep]
        edits.exclude = {_key(p) for p in rows["image"] if str(p).strip()}
    if relabel:
        t = read_user_csv(
            relabel, required=["image", "relabel"], what="--relabel file", allow_empty=True
        )
        given = t.df[t.df["relabel"].astype(str).str.strip() != ""]
        edits.relabel = {
            _key(p): str(c).strip() for p, c in zip(given["image"], given["relabel"], strict=True)
        }
    return edits


def apply_label_edits(
    df: pd.DataFrame, classes: list[str], edits: LabelEdits
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the samples table with the edits applied, the excluded rows: image, label, reason,
    detail). Relabelling needs single-label classes (a `target` column of class indices)."""
    if not edits:
        return df, pd.DataFrame(columns=["image", "label", "reason", "detail"])
    keys = df["image"].map(_key)
    out = df[~keys.isin(edits.exclude)].copy()
    gone = df[keys.isin(edits.exclude)]
    excluded = pd.DataFrame(
        {
            "image": gone["image"].to_numpy(),
            "label": gone["label"].to_numpy() if "label" in gone else "",
            "reason": EXCLUDED,
            "detail": "--exclude",
        },
        columns=["image", "label", "reason", "detail"],
    )
    if edits.relabel:
        out = _relabel(out, classes, edits.relabel)
    return out.reset_index(drop=True), excluded


def _relabel(df: pd.DataFrame, classes: list[str], relabel: dict[str, str]) -> pd.DataFrame:
    if not classes or "target" not in df or "targets" in df:
        raise DataError(
            "--relabel gives each image one class: it applies to single-label classification "
            "(binary, multiclass); edit the labels themselves for other data"
        )
    unknown = sorted(set(relabel.values()) - set(classes))
    if unknown:
        raise DataError(
            f"--relabel names class(es) the data does not have: {', '.join(unknown[:5])}; "
            f"classes are: {', '.join(classes[:20])}"
        )
    new = df["image"].map(_key).map(relabel)
    hit = new.notna()
    df.loc[hit, "label"] = new[hit]
    df.loc[hit, "target"] = new[hit].map({c: i for i, c in enumerate(classes)}).astype(int)
    return df


def edits_note(df: pd.DataFrame, edits: LabelEdits, n_excluded: int) -> str:
    """One line for the run's notes: what the edits did, and what they named that is not here."""
    keys = set(df["image"].map(_key))
    parts = []
    if edits.exclude:
        parts.append(f"--exclude left out {n_excluded} image(s)")
    if edits.relabel:
        parts.append(f"--relabel relabelled {len(keys & set(edits.relabel))} image(s)")
    missing = len((edits.exclude | set(edits.relabel)) - keys)
    if missing:
        parts.append(f"{missing} image(s) the edit files name are not in the data")
    return "; ".join(parts)
