"""A cache of per-file scan results, so that a second `check` or `train` on unchanged files does
not decode them again.

Entries are keyed by the file's absolute path, size, modification and status-change times
(nanoseconds) and inode, and by the settings that change the verdict (the pixel cap and the scanner
version). A file that was rewritten, touched or replaced (even by one with the same size and a
restored modification time) gets a new key and is scanned again.

The cache is a SQLite database in the user's cache folder (``$VISIONFIT_CACHE``, else
``~/.cache/visionfit``), never inside the dataset, which may be read-only; it may be deleted at any
time. It is an optimisation only: when the database cannot be opened, read or written (read-only
home, corrupt file, locked by another process for too long) the scan runs without it and says so
once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

SCANNER_VERSION = 4  # 2: EXIF read after the decode (1 accepted some damaged PNGs); 3: pHash;
# 4: DICOM decoded (and its PatientID kept)
"""Bump when the scan's results change for the same file, so old entries are not reused."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_scans (
    path BLOB NOT NULL,
    settings TEXT NOT NULL,
    stamp TEXT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (path, settings)
)
"""


def default_cache_dir() -> Path:
    """$VISIONFIT_CACHE, else ~/.cache/visionfit (the same rule as the demo's data)."""
    env = os.environ.get("VISIONFIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "visionfit"


def file_key(path: str) -> str | None:
    """A stamp that changes whenever the file does (size, mtime, ctime, inode); None when the
    file cannot be stat'ed (missing, no permission)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


class ScanCache:
    """Get and put scan results (JSON-able dicts) for files.

    >>> cache = ScanCache.open(settings={"max_pixels": 64_000_000})
    >>> cache.get_many(["/data/a.png"])   # {path: result} for the entries that are still valid
    """

    def __init__(self, db_path: Path | None, settings: dict):
        self.db_path = db_path
        self.settings = json.dumps({"v": SCANNER_VERSION, **settings}, sort_keys=True)
        self._conn: sqlite3.Connection | None = None
        self.disabled_reason: str | None = None
        if db_path is not None:
            self._connect()
        else:
            self.disabled_reason = "disabled"

    @classmethod
    def open(cls, settings: dict, cache_dir: str | Path | None = None) -> ScanCache:
        base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        return cls(base / "scan-cache.sqlite", settings)

    @classmethod
    def disabled(cls) -> ScanCache:
        return cls(None, {})

    @property
    def enabled(self) -> bool:
        return self._conn is not None

    def _connect(self) -> None:
        assert self.db_path is not None
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.db_path, timeout=10.0)
            conn.execute(_SCHEMA)
            conn.commit()
        except sqlite3.DatabaseError as e:
            if "not a database" in str(e) or "malformed" in str(e):
                # A damaged cache is worth nothing: start a new one.
                self._discard_damaged()
                return
            self._disable(e)
            return
        except OSError as e:
            self._disable(e)
            return
        self._conn = conn

    def _discard_damaged(self) -> None:
        assert self.db_path is not None
        try:
            self.db_path.unlink(missing_ok=True)
            conn = sqlite3.connect(self.db_path, timeout=10.0)
            conn.execute(_SCHEMA)
            conn.commit()
        except (sqlite3.Error, OSError) as e:
            self._disable(e)
            return
        self._conn = conn

    def _disable(self, err: BaseException) -> None:
        self.disabled_reason = f"{self.db_path}: {err}"
        self.close()
        warnings.warn(
            f"scan cache unavailable ({self.disabled_reason}); scanning without it",
            RuntimeWarning,
            stacklevel=3,
        )

    def get_many(self, keyed: Sequence[tuple[str, str]]) -> dict[str, dict]:
        """Results for (path, stamp) pairs (see `file_key`) cached with the same settings."""
        if self._conn is None or not keyed:
            return {}
        found: dict[str, dict] = {}
        # Paths are stored as their bytes: file names need not be valid UTF-8.
        wanted = {(os.fsencode(p), stamp): p for p, stamp in keyed}
        paths = sorted({key[0] for key in wanted})
        try:
            for i in range(0, len(paths), 500):
                chunk = paths[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT path, stamp, result FROM file_scans "
                    f"WHERE settings = ? AND path IN ({marks})",
                    (self.settings, *chunk),
                )
                for path, stamp, result in rows:
                    name = wanted.get((bytes(path), stamp))
                    if name is not None:
                        found[name] = json.loads(result)
        except (sqlite3.Error, ValueError) as e:
            self._disable(e)
            return {}
        return found

    def put_many(self, items: Iterable[tuple[str, str, dict]]) -> None:
        """Store (path, stamp, result); replaces the entry for the same path and settings."""
        if self._conn is None:
            return
        rows = [(os.fsencode(p), self.settings, stamp, json.dumps(r)) for p, stamp, r in items]
        if not rows:
            return
        try:
            with self._conn:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO file_scans VALUES (?, ?, ?, ?)", rows
                )
        except sqlite3.Error as e:
            self._disable(e)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None

    def __enter__(self) -> ScanCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
