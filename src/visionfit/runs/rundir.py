"""Run directories that never overwrite an earlier run, and atomic file writes."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from visionfit.errors import RunError
from visionfit.fileio import atomic_write_bytes, atomic_write_csv, atomic_write_text  # noqa: F401


def create_run_dir(runs_dir: str | Path, name: str) -> Path:
    """Make `runs_dir/<name>-<YYYYmmdd-HHMMSS>` (with -2, -3... on a clash) and return it.

    `mkdir` without exist_ok is the lock: two processes can never get the same directory.
    """
    runs = Path(runs_dir)
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise RunError(
            f"--runs-dir {runs} is a file, or lies under one; choose a folder for the runs"
        ) from None
    safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", name) or "run"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return create_numbered_dir(runs, f"{safe}-{stamp}")


def create_numbered_dir(parent: str | Path, name: str) -> Path:
    """Make `parent/<name>` (then <name>-2, <name>-3, ... when taken) and return it: a new
    folder each call, as `create_run_dir` gives a new run (`mkdir` is the lock)."""
    parent = Path(parent)
    candidate, n = parent / name, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = parent / f"{name}-{n}"
