"""Atomic file writes (a reader, or a resumed run, never sees half a file) and exclusive
creates (a file that must never be overwritten: of two writers racing for one path, exactly one
succeeds)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from visionfit.errors import OutputExistsError

if TYPE_CHECKING:  # pandas is imported by whoever hands us a frame: the CLI starts faster
    import pandas as pd


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _new_file_mode(fd)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        name_failed_path(e, path)
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


def name_failed_path(e: BaseException, path: Path) -> None:
    """A failed write (no space, ...) names the file it was for, not a temporary one or none."""
    if isinstance(e, OSError):
        e.filename, e.filename2 = str(path), None


def _new_file_mode(fd: int) -> None:
    """mkstemp makes 0600 files; a finished output gets the usual 0666 & ~umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)


def link_exclusive(src: str | Path, path: str | Path, *, flag: str = "--out") -> None:
    """Put the finished file `src` at `path` unless `path` exists: a hard link never replaces
    a file, so of two writers racing for one path exactly one succeeds (OutputExistsError for
    the other). A filesystem without hard links gets an exclusive create (O_CREAT | O_EXCL),
    a copy and an fsync instead; a failed copy removes what it created."""
    path = Path(path)
    try:
        os.link(src, path)
        return
    except FileExistsError:
        raise OutputExistsError(exists_message(path, flag)) from None
    except OSError:
        pass
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise OutputExistsError(exists_message(path, flag)) from None
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as f_in:
            shutil.copyfileobj(f_in, out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def open_exclusive(
    path: str | Path, mode: str = "wb", *, flag: str = "--out", encoding: str = "utf-8"
) -> Iterator[IO]:
    """Write a new file `path` that must never overwrite one: the data goes to a temporary file
    beside it (flushed and fsynced), which is then linked into place only if `path` still does
    not exist (`link_exclusive`). A reader never sees half a file, a failure leaves nothing, and
    a `path` that exists (before, or created meanwhile by another writer) raises
    `visionfit.errors.OutputExistsError` naming the option to change (`flag`).

    >>> with open_exclusive("preds.csv", "w") as f:
    ...     f.write("image,pred\\n")
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"open_exclusive writes a new file: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    check_new_path(path, flag)  # fail before the work; the link below decides a race
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _new_file_mode(fd)
        text = {"encoding": encoding, "errors": "surrogateescape", "newline": ""}
        with os.fdopen(fd, mode, **(text if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        link_exclusive(tmp, path, flag=flag)
    except OSError as e:
        name_failed_path(e, path)
        raise
    finally:
        Path(tmp).unlink(missing_ok=True)


def create_exclusive(path: str | Path, data: bytes | str, *, flag: str = "--out") -> None:
    """Write `data` to a new file `path`; OutputExistsError when it exists (see open_exclusive)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with open_exclusive(path, "wb", flag=flag) as f:
        f.write(data)


def create_exclusive_csv(path: str | Path, df: pd.DataFrame, *, flag: str = "--out") -> None:
    create_exclusive(path, df.to_csv(index=False), flag=flag)


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
