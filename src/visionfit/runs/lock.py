"""One process at a time per run directory.

A run being trained holds an OS lock on `RUN/.lock` (``fcntl.flock``); `--resume` on a run that is
still training in another process is refused. The OS drops the lock when the process ends, even
on SIGKILL, so a killed run never leaves a stale lock behind. Where ``fcntl`` does not exist
(Windows) the lock is skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

from visionfit.errors import RunError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunLock:
    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        if fcntl is None:
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            finally:
                os.close(fd)
            raise RunError(
                f"{self.path.parent} is being trained right now (process {holder}); "
                "wait for it to finish, or stop it before resuming"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __del__(self):
        self.release()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def acquire_run_lock(run_dir: str | Path) -> RunLock:
    """Lock `run_dir` for this process; RunError when another process holds it."""
    return RunLock(run_dir).acquire()
