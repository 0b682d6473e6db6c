"""Labels from file names (`--label-from-name REGEX`, fastai's `from_name_re`).

The label is the regular expression's first group, searched (`re.search`, case-insensitive) in
the file's name, e.g. '^(cat|dog)\\.' or '^([a-z]+)\\.' for Kaggle's dogs-vs-cats `cat.123.jpg`.
Spellings of a label that differ only in case (Cat, cat) are one class. A file whose name the
expression does not match (or whose first group is empty) has no label: the layouts leave it out
and list it (`Samples.unlabelled`), and `drop_unusable` / `check` name it with the reason
UNLABELLED. An expression that matches no file at all is an error.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from visionfit.config import DataConfig
from visionfit.data.listing import SkipDir, StoredPaths, list_images
from visionfit.errors import DataError
from visionfit.text import clip

UNLABELLED = "unlabelled"


def unify_case(labels: list[str | None]) -> list[str | None]:
    """Labels with each case-insensitive class spelt one way: its most used spelling (on a
    tie the lower-case one, else the first in sorted order)."""
    counts = Counter(lab for lab in labels if lab is not None)
    best: dict[str, str] = {}
    for spelling, _n in sorted(
        counts.items(), key=lambda kv: (-kv[1], kv[0] != kv[0].lower(), kv[0])
    ):
        best.setdefault(spelling.casefold(), spelling)
    return [None if lab is None else best[lab.casefold()] for lab in labels]


class NameLabels:
    """The compiled `--label-from-name` expression (the config has checked it has a group)."""

    def __init__(self, pattern: str):
        self.pattern = pattern
        try:
            self._re = re.compile(pattern, re.IGNORECASE)
        except re.error as e:  # the config checks it; this guards direct callers
            raise DataError(
                f"--label-from-name '{clip(pattern, 80)}' is not a regular expression ({e})"
            ) from None
        if self._re.groups < 1:
            raise DataError(
                f"--label-from-name '{clip(pattern, 80)}' has no group: put the label in "
                "parentheses, e.g. '^([a-z]+)\\.'"
            )

    def label_of(self, name: str) -> str | None:
        """The label of a file name (its first group), or None when there is none."""
        m = self._re.search(name)
        if m is None:
            return None
        label = (m.group(1) or "").strip()
        return label or None

    @property
    def detail(self) -> str:
        """Why an unlabelled file was left out (the skipped list's and check's detail)."""
        return f"name does not match --label-from-name '{clip(self.pattern, 80)}'"

    def labels(self, paths: Iterable[Path | str]) -> list[str | None]:
        """Each file's label; spellings that differ only in case (Cat, cat) are one class, named
        as most of its files spell it (see unify_case)."""
        found = [self.label_of(Path(p).name) for p in paths]
        return unify_case(found)

    def require_some(self, n_labelled: int, paths: Sequence[Path | str]) -> None:
        """Raise when the expression labels none of `paths` (naming it and an example name)."""
        if n_labelled:
            return
        example = Path(paths[0]).name if paths else "(no image files)"
        raise DataError(
            f"--label-from-name '{clip(self.pattern, 80)}' matches none of the "
            f"{len(paths)} file names, e.g. {clip(example, 80)!r}: the label is the first "
            "group, searched case-insensitively in the name (e.g. '^(cat|dog)\\.' for cat.1.jpg)"
        )


def named_files(
    root: Path,
    skip_dir: SkipDir | None,
    skipped: list[Path],
    names: NameLabels,
    unlabelled: list[tuple[str, str]],
) -> tuple[pd.DataFrame, int]:
    """(image, label) rows of every image under root (recursively), labelled by its file name;
    a file the expression does not label is added to `unlabelled`."""
    listing = list_images(root, skip_dir)
    skipped.extend(listing.skipped_dirs)
    if not listing.images:
        if listing.unreadable_dirs:
            d, why = listing.unreadable_dirs[0]
            raise DataError(f"{d} cannot be read ({why.lower()}): give yourself read access")
        raise DataError(f"no images found in {root}: expected image files (png jpg jpeg ...)")
    rows, stored = [], StoredPaths()
    for p, label in zip(listing.images, names.labels(listing.images), strict=True):
        path = stored(p)
        if label is None:
            unlabelled.append((path, names.detail))
        else:
            rows.append((path, label))
    return pd.DataFrame(rows, columns=["image", "label"]), listing.ignored


def csv_name_labels(
    paths: list[Path], index: pd.Index, cfg: DataConfig, vector: bool
) -> tuple[pd.Series, pd.Series]:
    """--label-from-name on a CSV's files: (label per row, "" where none; rows without one)."""
    if vector:
        raise DataError(
            "--label-from-name gives each file one label; it cannot be combined with "
            "--label-cols or --label-delim"
        )
    names = NameLabels(cfg.label_from_name)
    found = names.labels(paths)
    names.require_some(sum(lab is not None for lab in found), paths)
    labels = pd.Series([lab or "" for lab in found], index=index)
    return labels, labels == ""
