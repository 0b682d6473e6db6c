"""The rows of an RLE CSV: image id, class id and RLE string of each row.

* binary (one RLE column, e.g. SIIM, Carvana): every row is class 1; several rows of one image
  are OR-ed.
* multi-class (Severstal's `ImageId,ClassId,EncodedPixels`): a class column, recognised by the
  name ClassId (any case) or named with `--class-col`; ClassId 1..K-1 (0 is the background: a row
  of class 0 or with an empty RLE lists an image with no mask of that class). The classes are
  `--num-classes` or the largest ClassId + 1. Where two classes' runs overlap, the higher ClassId
  wins (data/rle.py `rle_decode_classes`), whatever the rows' order.
* Severstal's older layout, one `ImageId_ClassId` column (`0002cc93b.jpg_1`): an id column whose
  every value is an image file name, `_`, and an integer is split into the two.

What does not fit (a class id that is no integer or out of range, two rows for one image and
class, a run past the image's last pixel) is a problem: `visionfit check` lists them, train
refuses the data (naming the first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from visionfit.config import TaskSection
from visionfit.data.io import is_image_file
from visionfit.data.rle import EMPTY_TOKENS, is_empty_rle, parse_rle
from visionfit.errors import DataError
from visionfit.tasks.segmentation.pairs import RleInfo

CLASS_COL = "ClassId"  # the column name recognised (case-insensitive) without --class-col
_COMBINED = re.compile(r"^(?P<image>.+)_(?P<cls>-?\d+)$")


@dataclass
class RleRow:
    line: int  # the CSV line (1 = header)
    rle: str
    cls: int  # 1 for a binary CSV


@dataclass
class RleRows:
    """The CSV's rows grouped by image id, in the order the images first appear."""

    groups: dict[str, list[RleRow]]
    class_col: str  # "" (binary), the class column's name, or "ClassId" for combined ids
    num_classes: int
    problems: list[str] = field(default_factory=list)


def class_column(columns, seg: TaskSection) -> str:
    """The class column: `--class-col` (must exist), else one named ClassId (any case), else ""."""
    given = getattr(seg, "class_col", None)
    if given:
        if given not in columns:
            raise DataError(
                f"--class-col {given!r} is not a column of the CSV (columns: "
                f"{', '.join(map(str, columns))})"
            )
        return given
    return next((c for c in columns if str(c).strip().lower() == CLASS_COL.lower()), "")


def _combined_ids(ids: pd.Series) -> pd.DataFrame | None:
    """Image ids and classes split from `<image file>_<class>` ids, when every id is one."""
    found = ids.str.extract(_COMBINED)
    if found["image"].isna().any() or not found["image"].map(is_image_file).all():
        return None
    return found


def read_rle_rows(raw: pd.DataFrame, seg: TaskSection, name: str) -> RleRows:
    """Group the CSV's rows by image, with their class ids; every RLE string is parsed once
    (an RLE that is not an even list of integers is an error naming its line)."""
    class_col = class_column(raw.columns, seg)
    ids = raw[seg.id_col].str.strip()
    classes = raw[class_col].str.strip() if class_col else pd.Series("1", index=raw.index)
    if not class_col and (combined := _combined_ids(ids)) is not None and len(ids):
        ids, classes, class_col = combined["image"], combined["cls"], CLASS_COL
    problems: list[str] = []
    groups: dict[str, list[RleRow]] = {}
    k_given = seg.num_classes
    for line, (image_id, cls, rle) in enumerate(
        zip(ids, classes, raw[seg.rle_col], strict=True), start=2
    ):
        if not image_id:
            raise DataError(f"{name} line {line}: empty {seg.id_col!r}")
        parse_rle(rle, fmt=seg.rle_format, where=f"{name} line {line} ({image_id})")
        c = _class_id(cls, is_empty_rle(rle), k_given, f"{name} line {line} ({image_id})", problems)
        groups.setdefault(image_id, [])
        if c is not None:
            groups[image_id].append(RleRow(line, rle, c))
    if class_col:
        problems += _duplicates(groups, name, class_col)
    top = max((r.cls for rows in groups.values() for r in rows), default=1)
    return RleRows(groups, class_col, k_given or max(2, top + 1), problems)


def _class_id(text: str, empty: bool, k: int | None, where: str, problems: list) -> int | None:
    """The row's class id, or None (a problem said) when it is none of 1..K-1; an empty RLE may
    carry class 0 or no class (the image is listed with no mask)."""
    if empty and text in ("", "0"):
        return 0
    try:
        c = int(text)
    except ValueError:
        problems.append(f"{where}: class id {text!r} is not an integer")
        return None
    if c < 1 or (k is not None and c >= k):
        top = f"{k - 1} (--num-classes {k})" if k else "the largest class"
        problems.append(f"{where}: class id {c} is out of range (1..{top}; 0 is the background)")
        return None
    return c


def _duplicates(groups: dict[str, list[RleRow]], name: str, class_col: str) -> list[str]:
    out = []
    for image_id, rows in groups.items():
        seen: dict[int, int] = {}
        for r in rows:
            if r.cls and not is_empty_rle(r.rle):
                if r.cls in seen:
                    out.append(
                        f"{name} lines {seen[r.cls]} and {r.line}: two rows of {image_id} with "
                        f"{class_col} {r.cls} (one row per image and class)"
                    )
                seen.setdefault(r.cls, r.line)
    return out


def rle_fit_problems(
    rows: list[RleRow], size: tuple[int, int], image: str, image_id: str, fmt: str, name: str
) -> list[str]:
    """A problem per row whose runs end past the last pixel of its (h, w) image."""
    h, w = size
    out = []
    for r in rows:
        starts, lengths = parse_rle(r.rle, fmt=fmt)
        if len(starts) and int((starts + lengths).max()) > h * w:
            out.append(
                f"{name} line {r.line} ({image_id}): RLE runs past the last pixel of "
                f"{image} ({w}x{h} = {h * w} pixels); wrong --rle-format ({fmt}) or image?"
            )
    return out


def rle_info(rles: pd.Series, seg: TaskSection, groups: dict, class_col: str) -> RleInfo:
    """How the CSV writes its masks, so that predictions are written back the same way."""
    stripped = rles.str.strip()
    if (stripped == "-1").any():
        empty_token = "-1"
    elif (stripped == "").any():
        empty_token = ""
    else:
        empty_token = EMPTY_TOKENS[seg.rle_format]
    return RleInfo(
        fmt=seg.rle_format,
        order=seg.rle_order,
        id_col=seg.id_col,
        rle_col=seg.rle_col,
        empty=empty_token,
        id_with_ext=all(is_image_file(i) for i in groups),
        class_col=class_col,
    )


def image_groups(raw: pd.DataFrame, id_col: str, group_col: str, csv_path: Path) -> pd.Series:
    """One group id per image id (e.g. a patient); the rows of one image must agree."""
    pairs = raw[[id_col, group_col]].apply(lambda c: c.str.strip())
    if (pairs[group_col] == "").any():
        line = int(pairs.index[pairs[group_col] == ""][0]) + 2
        raise DataError(f"{csv_path.name} line {line}: empty {group_col!r} (every image needs one)")
    per_image = pairs.groupby(id_col)[group_col].agg(lambda g: sorted(set(g)))
    torn = per_image[per_image.map(len) > 1]
    if len(torn):
        raise DataError(
            f"{csv_path.name}: image {torn.index[0]!r} has rows in several groups "
            f"({', '.join(torn.iloc[0])}); one image belongs to one group"
        )
    return per_image.map(lambda g: g[0])
