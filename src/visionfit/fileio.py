"""Atomic file writes (a reader, or a resumed run, never sees half a file), exclusive creates (a
file that must never be overwritten: of two writers racing for one path, exactly one succeeds),
and the one guarded open for reading a path someone handed us (`open_regular`, `read_regular`):
only regular files are read, their size is checked before anything is read, and a named pipe is
never opened for a blocking read."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from visionfit.errors import OutputExistsError, VisionfitError

if TYPE_CHECKING:  # pandas is imported by whoever hands us a frame: the CLI starts faster
    import pandas as pd


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename into place."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        name_failed_path(e, path)
        raise
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
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # a read-only or missing folder: said of the file asked for
        name_failed_path(e, path)
        raise
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


# ---- reading a path someone handed us --------------------------------------------------------


class UnreadableFileError(VisionfitError):
    """A path that is not read: missing, a folder, not a regular file (a named pipe, a device,
    a socket), over its size limit, or refused by the OS. `.path`, `.missing`, `.detail` (a short
    reason, e.g. "not a regular file (a named pipe)") let a caller say it in its own words."""

    def __init__(self, path: str | os.PathLike, detail: str, *, missing: bool = False):
        self.path, self.detail, self.missing = os.fsdecode(path), detail, missing
        super().__init__(f"{self.path}: unreadable ({detail})")


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words ("a named pipe", "a device", ...)."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a plain file"


def _size_words(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _too_big(path, size: int, max_bytes: int) -> UnreadableFileError:
    limit = _size_words(max_bytes)
    return UnreadableFileError(path, f"{_size_words(size)}, over the {limit} limit")


def check_regular(path: str | os.PathLike, *, max_bytes: int | None = None) -> os.stat_result:
    """`os.stat(path)` when `path` is a regular file of at most `max_bytes`; else
    UnreadableFileError. Nothing is opened: a FIFO or a device is refused by its stat alone."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        detail = "broken symbolic link" if os.path.islink(path) else "no such file"
        raise UnreadableFileError(path, detail, missing=True) from None
    except OSError as e:
        raise UnreadableFileError(path, e.strerror or str(e)) from None
    if stat.S_ISDIR(st.st_mode):
        raise UnreadableFileError(path, "is a folder")
    if not stat.S_ISREG(st.st_mode):
        raise UnreadableFileError(path, f"not a regular file ({file_kind(st.st_mode)})")
    if max_bytes is not None and st.st_size > max_bytes:
        raise _too_big(path, st.st_size, max_bytes)
    return st


def open_regular(path: str | os.PathLike, *, max_bytes: int | None = None) -> IO[bytes]:
    """Open a regular file for binary reading (see `check_regular`): the one guarded open for a
    path a user, a CSV or a run directory hands us. O_NONBLOCK: had the path been swapped for a
    FIFO since the stat, the open still returns at once, and the fstat below refuses it."""
    check_regular(path, max_bytes=max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise UnreadableFileError(path, e.strerror or str(e)) from None
    f = os.fdopen(fd, "rb")
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        f.close()
        raise UnreadableFileError(path, f"not a regular file ({file_kind(st.st_mode)})")
    return f


def read_regular(path: str | os.PathLike, *, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes` (UnreadableFileError otherwise; also
    when it grew past the limit since the stat: never more than max_bytes + 1 bytes are read)."""
    with open_regular(path, max_bytes=max_bytes) as f:
        try:
            data = f.read(max_bytes + 1)
        except OSError as e:
            raise UnreadableFileError(path, e.strerror or str(e)) from None
    if len(data) > max_bytes:
        raise _too_big(path, len(data), max_bytes)
    return data


def read_regular_text(path: str | os.PathLike, *, max_bytes: int) -> str:
    """`read_regular` decoded as UTF-8 (undecodable bytes kept as surrogates)."""
    return read_regular(path, max_bytes=max_bytes).decode("utf-8", "surrogateescape")
