"""The one reader for CSV files a user hands us (train/check CSVs, RLE CSVs, folds files, predict
input lists, truth CSVs). The run directory's own CSVs are read by `runs/`, not here.

What users' CSVs look like in practice, and what is done about it:

* saved by Excel: a UTF-8 byte-order mark, ``;`` as the delimiter (locales with a decimal comma),
  or UTF-16 ("Unicode text"), or the Windows code page: the BOM decides the encoding, else UTF-8,
  else Windows-1252 / Latin-1 (said so in a note, since names may then be read wrongly);
* delimiter ``,`` ``;`` tab or ``|``, found from the header line;
* spaces around header names (``image, label``): stripped;
* an empty file, a header with no rows, a missing column: one-line `DataError` naming the file,
  the columns it does have and the option that names another column;
* a directory, a named pipe or a device given as the CSV: refused before anything is read (a FIFO
  is never opened for a blocking read), and a size cap so that a wrong path cannot fill memory.

>>> table = read_user_csv("train.csv", required=[("image", "--image-col")])  # doctest: +SKIP
>>> table.df.columns.tolist(), table.notes  # doctest: +SKIP
(['image', 'label'], [])
"""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from visionfit.errors import DataError
from visionfit.fileio import UnreadableFileError, read_regular

MAX_USER_CSV_BYTES = 1 << 30  # 1 GiB: far above any list of image paths and labels
DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_QUOTED = re.compile(r'"[^"]*"')

Required = Sequence[str | tuple[str, str | None]]


@dataclass
class UserCsv:
    """A user CSV as read: all cells strings (``""`` where empty), header names stripped."""

    df: pd.DataFrame
    path: Path
    encoding: str
    delimiter: str
    notes: list[str] = field(default_factory=list)


def read_user_csv(
    path: str | os.PathLike,
    *,
    required: Required = (),
    what: str = "",
    hint: str | None = None,
    allow_empty: bool = False,
    max_bytes: int = MAX_USER_CSV_BYTES,
) -> UserCsv:
    """Read a CSV a user gave, or raise one `DataError` saying what is wrong and how to fix it.

    `required` lists the columns that must be there, each a name or `(name, option)` where the
    option is the flag that picks another column ("--label-col"); `hint` replaces "choose one
    with OPTION" in that message. `what` names the file in messages ("folds file"); without it the
    file's name alone is used. A CSV with a header and no row is an error unless `allow_empty`.
    """
    p = Path(path).expanduser()
    label = what or "CSV file"
    data = _read_regular_file(p, label, max_bytes)
    text, encoding, notes = _decode(data, p, label)
    if not text.strip():
        raise DataError(f"{label} {p} is empty: expected a header line and one row per image")
    delimiter = sniff_delimiter(text)
    df = _parse(text, delimiter, p, label)
    df.columns = [str(c).strip() for c in df.columns]
    table = UserCsv(df=df, path=p, encoding=encoding, delimiter=delimiter, notes=notes)
    check_columns(table, required, what=what, hint=hint)
    if df.empty and not allow_empty:
        raise DataError(f"{label} {p} has no rows (only the header {', '.join(df.columns)})")
    return table


def check_columns(table: UserCsv, required: Required, *, what: str = "", hint: str | None = None):
    """Raise a DataError for the first of `required` that is not a column of `table`."""
    named = f"{what} {table.path.name}" if what else table.path.name
    for item in required:
        col, option = (item, None) if isinstance(item, str) else item
        if col in table.df.columns:
            continue
        why = hint or (f"choose one with {option}" if option else "")
        found = ", ".join(table.df.columns) or "(none)"
        sep = "" if table.delimiter == "," else f", {_DELIMITER_NAMES[table.delimiter]}-separated"
        why = f" ({why})" if why else ""
        raise DataError(f"column {col!r} not in {named}; columns are: {found}{sep}{why}")


def _parse(text: str, delimiter: str, p: Path, label: str) -> pd.DataFrame:
    where = f"{label} {p} ({_DELIMITER_NAMES[delimiter]}-separated)"
    try:
        with warnings.catch_warnings():
            # index_col=False: a row longer than the header is an error here, where pandas would
            # quietly turn the first columns into an index and shift every value left
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(
                io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, index_col=False
            )
    except (pd.errors.ParserWarning, pd.errors.ParserError) as e:
        long_row = _first_long_row(text, delimiter)
        if long_row is None:
            raise DataError(f"cannot read {where}: {_first_line(e)}") from None
        line, n, width = long_row
        raise DataError(
            f"cannot read {where}: line {line} has {n} fields, the header has {width} "
            "(a delimiter inside a name needs quotes)"
        ) from None
    except Exception as e:  # pandas raises many error types for text it cannot parse
        raise DataError(f"cannot read {where}: {_first_line(e)}") from None


def _first_long_row(text: str, delimiter: str) -> tuple[int, int, int] | None:
    """(line, fields, header fields) of the first row longer than the header, else None."""
    try:
        rows = csv.reader(io.StringIO(text), delimiter=delimiter)
        width = len(next(r for r in rows if r))
        for row in rows:
            if len(row) > width:
                return rows.line_num, len(row), width
    except (csv.Error, StopIteration):
        pass
    return None


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def sniff_delimiter(text: str) -> str:
    """The delimiter of the header line: the most frequent of , ; tab | outside quotes (ties go to
    the earlier one; "," for a single column)."""
    header = _QUOTED.sub("", text.lstrip("\r\n").split("\n", 1)[0])
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # max keeps the first of equal counts
    return best if counts[best] else ","


def _read_regular_file(p: Path, label: str, max_bytes: int) -> bytes:
    try:
        return read_regular(p, max_bytes=max_bytes)
    except UnreadableFileError as e:
        if e.missing:
            why = f"{label} not found: {p}"
        elif e.detail == "is a folder":
            why = f"{label} {p} is a folder: give the path of the CSV file itself"
        elif e.detail.startswith("not a regular file"):
            why = f"{label} {p} is {e.detail}: give a CSV file"
        elif "limit" in e.detail:
            why = f"{label} {p} is {e.detail} for a CSV of image names and labels: right file?"
        else:
            why = f"cannot read {label} {p}: {e.detail}"
        raise DataError(why) from None


def _decode(data: bytes, p: Path, label: str) -> tuple[str, str, list[str]]:
    if data.startswith(b"PK\x03\x04"):
        raise DataError(
            f"{label} {p} is a zip or an Excel workbook (.xlsx), not a CSV: save it as CSV "
            "(File > Save As > CSV UTF-8)"
        )
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding, []
            except UnicodeDecodeError as e:
                raise DataError(f"cannot read {label} {p}: not valid {encoding}: {e}") from None
    if b"\x00" in data:
        raise DataError(
            f"{label} {p} holds NUL bytes: not a text CSV (UTF-16 without a byte-order mark, or a "
            "binary file?); save it as CSV UTF-8"
        )
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError:
        pass
    try:
        text, encoding = data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        text, encoding = data.decode("latin-1"), "latin-1"
    name = "Windows-1252" if encoding == "cp1252" else "Latin-1"
    note = (
        f"{p.name} is not UTF-8: read as {name}; if file names or labels look wrong, "
        "save it as CSV UTF-8"
    )
    return text, encoding, [note]
