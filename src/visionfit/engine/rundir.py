"""Run directories that never overwrite an earlier run, and atomic file writes."""

from __future__ import annotations

import os
import re
import tempfile
from datetime import datetime
from pathlib import Path

import pandas as pd


def create_run_dir(runs_dir: str | Path, name: str) -> Path:
    """Make `runs_dir/<name>-<YYYYmmdd-HHMMSS>` (with -2, -3... on a clash) and return it.

    `mkdir` without exist_ok is the lock: two processes can never get the same directory.
    """
    runs = Path(runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", name) or "run"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = runs / f"{safe}-{stamp}"
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


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
