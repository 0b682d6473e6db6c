"""Where an Optuna study lives, and the lock that keeps its trial count exact across processes.

`--storage` (`TuneOptions.storage`) takes:

``sqlite:///path/study.db``        one machine (the default, beside the study's outputs). Refused
                                   on a network filesystem (NFS, SMB/CIFS, sshfs, Lustre, GPFS,
                                   ...): SQLite's locking is not reliable there.
``postgresql://user:pw@host/db``   several machines on one database server (Optuna's RDB
                                   storage; ``pip install 'visionfit[tune-server]'`` for the
                                   driver). ``mysql://...`` works the same way where a driver is
                                   installed.
``journal:///path/study.log``      several machines on a shared filesystem, no server: Optuna's
  (or any path ending in ``.log``) journal file (`JournalStorage` + `JournalFileBackend`), an
                                   append-only log whose writes are serialised by a lock file.

"Count the finished trials, then start one" runs under an exclusive lock so that N workers stop at
exactly `--trials`: an `flock` beside an SQLite file, a PostgreSQL advisory lock (held by a
dedicated connection and dropped by the server if the worker dies), Optuna's O_EXCL lock file
beside a journal (safe on NFSv3+, taken over after 30 s if its holder died). MySQL has no lock
here, so two workers finishing at the same moment may overshoot by one trial.

Heartbeats mark a killed worker's trial failed after `grace` seconds so that another worker fills
its place: RDB storages have them from Optuna; for the journal, `HeartbeatJournalStorage` records
a timestamp in a trial system attribute every `interval` seconds (wall clock: machines sharing a
journal need clocks within a few seconds of each other, which NTP gives).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from visionfit.errors import VisionfitError

NETWORK_FS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "sshfs",
        "fuse.sshfs",
        "lustre",
        "gpfs",
        "glusterfs",
        "fuse.glusterfs",
        "ceph",
        "fuse.ceph",
        "fuse.cephfs",
        "beegfs",
        "afs",
        "ocfs2",
        "gfs2",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.rclone",
        "davfs",
        "fuse.davfs2",
    }
)
_HEARTBEAT_KEY = "visionfit:heartbeat"


# ---- the kind of storage


def storage_kind(url: str) -> tuple[str, str]:
    """("sqlite" | "journal" | "server", path or URL) for a `--storage` value."""
    if url.startswith("journal://"):
        path = url.removeprefix("journal://")
        if not path:
            raise VisionfitError("--storage journal:// needs a file, e.g. journal:///shared/s.log")
        return "journal", str(Path(path).expanduser())
    if "://" not in url:
        if url.endswith(".log"):
            return "journal", str(Path(url).expanduser())
        raise VisionfitError(
            f"--storage {url!r} is neither a database URL nor a journal file; use "
            "sqlite:///study.db (one machine), postgresql://user:password@host/db (a database "
            "server) or journal:///shared/folder/study.log (a shared filesystem)"
        )
    if url.startswith("sqlite"):
        return "sqlite", url
    return "server", url


def server_url(url: str) -> str:
    """`url` with a PostgreSQL driver SQLAlchemy can load: a bare ``postgresql://`` means psycopg
    (version 3) to SQLAlchemy 2.1, so it becomes ``postgresql+psycopg2://`` where only psycopg2
    (the ``tune-server`` extra) is installed."""
    import importlib.util

    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
            return f"postgresql+psycopg2://{rest}"
        return f"postgresql://{rest}"
    return url


# ---- network filesystems


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def filesystem_of(path: str | os.PathLike, mounts: str | None = None) -> tuple[str, str] | None:
    """(mount point, filesystem type) holding `path` (or its nearest existing parent).

    `mounts` is the text of /proc/mounts (read when None; None is returned where it is missing).
    """
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return None
    # symlinks resolved in the part that exists; the rest (not created yet) appended as given
    where, rest = Path(os.path.abspath(os.fspath(path))), []
    while not where.exists() and where != where.parent:
        rest.append(where.name)
        where = where.parent
    target = os.path.join(os.path.realpath(where), *reversed(rest))
    best: tuple[str, str] | None = None
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point, fstype = _unescape(parts[1]), parts[2]
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best[0])):
            best = (point, fstype)
    return best


def check_sqlite_location(db_path: str | os.PathLike, mounts: str | None = None) -> None:
    """Refuse an SQLite study database on a network filesystem, naming the alternatives."""
    found = filesystem_of(db_path, mounts)
    if found is None or found[1].lower() not in NETWORK_FS:
        return
    point, fstype = found
    log = Path(db_path).with_suffix(".log")
    raise VisionfitError(
        f"the study database {db_path} is on a network filesystem ({fstype} at {point}), where "
        "SQLite's file locking is unreliable and the study can be corrupted. Use "
        f"--storage journal://{log} (Optuna's journal file, made for shared filesystems), "
        "--storage postgresql://user:password@host/db (a database server; pip install "
        "'visionfit[tune-server]'), or an SQLite file on a local disk"
    )


# ---- opening


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def open_storage(url: str, *, heartbeat: int, grace: int):
    """The Optuna storage for a `--storage` value (see the module docstring)."""
    import optuna

    kind, where = storage_kind(url)
    if kind == "journal":
        Path(where).parent.mkdir(parents=True, exist_ok=True)
        try:
            return HeartbeatJournalStorage(where, interval=heartbeat, grace=grace)
        except OSError as e:
            raise VisionfitError(f"cannot open the journal {where}: {e.strerror or e}") from None
    engine_kwargs = {}
    if kind == "sqlite":
        engine_kwargs = {"connect_args": {"timeout": 60}}
        if url.startswith("sqlite:///") and ":memory:" not in url:
            db = Path(url.removeprefix("sqlite:///")).expanduser()
            check_sqlite_location(db)
            db.parent.mkdir(parents=True, exist_ok=True)
    else:
        engine_kwargs = {"pool_pre_ping": True}
        url = server_url(url)
    try:
        return optuna.storages.RDBStorage(
            url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat, grace_period=grace
        )
    except ModuleNotFoundError as e:
        raise VisionfitError(
            f"cannot open the Optuna storage {redact_url(url)}: the database driver {e.name!r} is "
            "not installed (PostgreSQL: pip install 'visionfit[tune-server]')"
        ) from None
    except Exception as e:
        raise VisionfitError(
            f"cannot open the Optuna storage {redact_url(url)}: {_first_line(e)}"
        ) from None


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


@functools.cache
def _journal_class():
    from optuna.storages import JournalStorage
    from optuna.storages._heartbeat import BaseHeartbeat
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    class _HeartbeatJournal(JournalStorage, BaseHeartbeat):
        def __init__(self, path: str, *, interval: int, grace: int):
            super().__init__(JournalFileBackend(path))
            self.path, self.interval, self.grace = path, interval, grace

        def record_heartbeat(self, trial_id: int) -> None:
            self.set_trial_system_attr(trial_id, _HEARTBEAT_KEY, time.time())

        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            now = time.time()
            stale = []
            for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
                beat = t.system_attrs.get(_HEARTBEAT_KEY)
                if beat is None and t.datetime_start is not None:
                    beat = t.datetime_start.timestamp()
                if beat is not None and now - float(beat) > self.grace:
                    stale.append(t._trial_id)
            return stale

        def get_heartbeat_interval(self) -> int | None:
            return self.interval

        def get_heartbeat_stale_trial_callback(self):
            return None

    return _HeartbeatJournal


def HeartbeatJournalStorage(path: str, *, interval: int, grace: int):  # noqa: N802
    """Optuna's JournalStorage on a file, with heartbeats (Optuna's journal has none)."""
    return _journal_class()(path, interval=interval, grace=grace)


# ---- the count lock


class Lock:
    """An exclusive lock across processes and machines; `release` may be called twice."""

    def acquire(self) -> None:  # no lock: a storage without one
        pass

    def release(self) -> None:
        pass

    @contextlib.contextmanager
    def held(self) -> Iterator[Lock]:
        self.acquire()
        try:
            yield self
        finally:
            self.release()


class FileLock(Lock):
    """`flock` on a file beside an SQLite database (one machine)."""

    def __init__(self, path: Path):
        self.path, self.fd = path, None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; the count may then overshoot by one
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)  # taken before the database exists
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


class JournalLock(Lock):
    """Optuna's O_EXCL lock file (NFSv3+), a different file from the journal's own lock."""

    def __init__(self, journal: str):
        from optuna.storages.journal import JournalFileOpenLock

        self._lock = JournalFileOpenLock(journal + ".count")
        self._folder = Path(journal).parent
        self._held = False

    def acquire(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()


class PostgresLock(Lock):
    """A session-level PostgreSQL advisory lock on a connection of its own."""

    def __init__(self, url: str):
        digest = hashlib.sha1(b"visionfit-tune", usedforsecurity=False).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self.url = server_url(url)
        self._engine = None
        self._conn = None

    def acquire(self) -> None:
        import sqlalchemy as sa

        try:
            if self._engine is None:
                self._engine = sa.create_engine(
                    self.url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
                )
            self._conn = self._engine.connect()
            self._conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
        except ModuleNotFoundError as e:
            raise VisionfitError(
                f"the PostgreSQL driver {e.name!r} is not installed: "
                "pip install 'visionfit[tune-server]'"
            ) from None
        except Exception as e:
            self._conn = None
            raise VisionfitError(
                f"cannot lock the study database {redact_url(self.url)}: {_first_line(e)}"
            ) from None

    def release(self) -> None:
        if self._conn is not None:
            import sqlalchemy as sa

            conn, self._conn = self._conn, None
            try:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            finally:
                conn.close()  # the server drops the lock with the session in any case


def lock_for(url: str) -> Lock:
    """The lock that makes "count, then start a trial" atomic for this storage."""
    kind, where = storage_kind(url)
    if kind == "journal":
        return JournalLock(where)
    if kind == "sqlite":
        if url.startswith("sqlite:///") and ":memory:" not in url:
            db = Path(url.removeprefix("sqlite:///")).expanduser()
            check_sqlite_location(db)  # before the lock file is created beside it
            return FileLock(db.with_name(db.name + ".lock"))
        return Lock()
    if url.split("://", 1)[0].split("+", 1)[0] in ("postgresql", "postgres"):
        return PostgresLock(url)
    return Lock()
