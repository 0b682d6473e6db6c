"""Atomic file writes (a reader, or a resumed run, never sees half a file) and exclusive
creates (a file that must never be overwritten: of two writers racing for one path, exactly one
succeeds)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd

from visionfit.errors import OutputExistsError


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    # surrogateescape: file names that are not valid UTF-8 are written back as their own bytes.
    atomic_write_bytes(path, text.encode("utf-8", "surrogateescape"))


def atomic_write_csv(path: str | Path, df: pd.DataFrame) -> None:
    atomic_write_text(path, df.to_csv(index=False))


NEVER_OVERWRITTEN = "files are never overwritten"


def exists_message(path: str | Path, flag: str = "--out") -> str:
    """The one wording of "that output exists": `X exists; choose another --out (...)`."""
    return f"{path} exists; choose another {flag} ({NEVER_OVERWRITTEN})"


@contextlib.contextmanager
def open_exclusive(
    path: str | Path, mode: str = "wb", *, flag: str = "--out", encoding: str | None = None
) -> Iterator[IO]:
    """Create `path` for writing only if it does not exist (O_CREAT | O_EXCL: no window between
    the check and the create), then flush and fsync it; on any failure the partial file is
    removed. A path that exists raises `visionfit.errors.OutputExistsError` (a VisionfitError)
    naming the option to change.

    >>> with open_exclusive("preds.csv", "w") as f:
    ...     f.write("image,pred\n")
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"open_exclusive writes a new file: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise OutputExistsError(exists_message(path, flag)) from None
    try:
        if mode == "w":
            f = os.fdopen(fd, "w", encoding=encoding or "utf-8", errors="surrogateescape")
        else:
            f = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def create_exclusive(path: str | Path, data: bytes | str, *, flag: str = "--out") -> None:
    """Write `data` to a new file `path`; OutputExistsError when it exists (see open_exclusive)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with open_exclusive(path, "wb", flag=flag) as f:
        f.write(data)


def check_new_path(path: str | Path, flag: str = "--out") -> None:
    """Fail early (before hours of work) when `path` exists. Only a courtesy: the write itself
    must still go through create_exclusive / open_exclusive, which is what decides a race."""
    if os.path.lexists(path):
        raise OutputExistsError(exists_message(path, flag))


def json_safe(obj):
    """NaN (an AUC undefined on a fold) becomes null and numpy scalars plain numbers, so that
    summary.json stays strict JSON."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj
