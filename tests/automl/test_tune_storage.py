"""Studies shared by several machines: PostgreSQL (a real server, started here), Optuna's journal
file, and SQLite refused on a network filesystem."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import optuna
import pytest

from visionfit.automl import tune_storage as ts
from visionfit.automl.tune import TuneOptions, tune
from visionfit.config import RunConfig
from visionfit.data.synthetic import make_shapes_dataset
from visionfit.errors import VisionfitError

MOUNTS = r"""/dev/sda1 / ext4 rw,relatime 0 0
proc /proc proc rw 0 0
fs1:/export/home /mnt/shared nfs4 rw,vers=4.2 0 0
//nas/team /mnt/nas\040team cifs rw 0 0
/dev/sdb1 /mnt/shared/local-scratch xfs rw 0 0
user@host:/data /mnt/ssh fuse.sshfs rw 0 0
"""


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_shapes_dataset(
        tmp_path_factory.mktemp("pgtune") / "data", n_per_class=6, size=16, seed=2
    )


def test_storage_kinds_and_their_errors():
    assert ts.storage_kind("journal:///shared/s.log") == ("journal", "/shared/s.log")
    assert ts.storage_kind("/shared/study.log") == ("journal", "/shared/study.log")
    assert ts.storage_kind("sqlite:///x.db")[0] == "sqlite"
    assert ts.storage_kind("postgresql://u:p@h/db")[0] == "server"
    with pytest.raises(VisionfitError, match="postgresql://user:password@host/db"):
        ts.storage_kind("study.db")
    with pytest.raises(VisionfitError, match="needs a file"):
        ts.storage_kind("journal://")
    assert (
        ts.redact_url("postgresql://me:s3cret@host:5432/db") == "postgresql://me:***@host:5432/db"
    )
    assert isinstance(ts.lock_for("postgresql://u@h/db"), ts.PostgresLock)
    assert isinstance(ts.lock_for("journal:///tmp/x.log"), ts.JournalLock)
    assert type(ts.lock_for("mysql://u@h/db")) is ts.Lock


def test_network_filesystems_are_found_from_the_mount_table(tmp_path):
    assert ts.filesystem_of("/mnt/shared/runs/study.db", MOUNTS) == ("/mnt/shared", "nfs4")
    assert ts.filesystem_of("/mnt/shared/local-scratch/a.db", MOUNTS)[1] == "xfs"
    assert ts.filesystem_of("/mnt/nas team/x/study.db", MOUNTS) == ("/mnt/nas team", "cifs")
    assert ts.filesystem_of("/mnt/sharedother/a.db", MOUNTS) == ("/", "ext4")
    for path in ("/mnt/shared/a/study.db", "/mnt/nas team/study.db", "/mnt/ssh/study.db"):
        with pytest.raises(VisionfitError, match="network filesystem") as err:
            ts.check_sqlite_location(path, MOUNTS)
        assert "journal://" in str(err.value) and "postgresql://" in str(err.value)
    ts.check_sqlite_location("/mnt/shared/local-scratch/study.db", MOUNTS)  # a local disk
    ts.check_sqlite_location("/home/me/study.db", MOUNTS)


def test_tune_refuses_sqlite_on_nfs_before_creating_anything(tiny_data, tmp_path, monkeypatch):
    real = ts.filesystem_of
    fake = f"/dev/sda1 / ext4 rw 0 0\nfs:/x {tmp_path} nfs rw 0 0\n"
    monkeypatch.setattr(ts, "filesystem_of", lambda path, mounts=None: real(path, fake))
    base = RunConfig.from_dict(
        {"runs_dir": str(tmp_path / "runs"), "data": {"path": str(tiny_data)}}
    )
    with pytest.raises(VisionfitError, match=r"nfs at .*--storage journal://"):
        tune(base, TuneOptions(trials=1, study="nfs"))
    assert not list(tmp_path.rglob("study.db*"))  # neither the database nor its lock file


def _base(data, runs) -> RunConfig:
    return RunConfig.from_dict(
        {
            "runs_dir": str(runs),
            "data": {"path": str(data), "workers": 0},
            "augment": {"img_size": 16},
            "train": {"epochs": 1, "batch_size": 8, "patience": None},
        }
    )


def test_a_journal_file_holds_a_resumable_study(tiny_data, tmp_path):
    log = tmp_path / "shared" / "study.log"
    opts = TuneOptions(trials=2, storage=f"journal://{log}", study="j", sampler_seed=0)
    res = tune(_base(tiny_data, tmp_path / "runs"), opts)
    assert res.ran_here == 2 and res.counts == {"complete": 2}
    again = tune(_base(tiny_data, tmp_path / "runs"), TuneOptions(**{**opts.__dict__, "trials": 3}))
    assert again.ran_here == 1 and sum(again.counts.values()) == 3
    study = optuna.load_study(
        study_name="j", storage=ts.open_storage(str(log), heartbeat=10, grace=60)
    )
    assert [t.number for t in study.trials] == [0, 1, 2]
    assert all(ts._HEARTBEAT_KEY in t.system_attrs for t in study.trials)  # heartbeats recorded


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_dead_workers_journal_trial_is_failed_after_the_grace_period(tmp_path):
    storage = ts.open_storage(str(tmp_path / "s.log"), heartbeat=1, grace=1)
    study = optuna.create_study(study_name="hb", storage=storage)
    alive, dead = study.ask(), study.ask()
    storage.record_heartbeat(alive._trial_id)
    storage.record_heartbeat(dead._trial_id)
    time.sleep(1.5)
    storage.record_heartbeat(alive._trial_id)
    optuna.storages.fail_stale_trials(study)
    states = {t.number: t.state for t in study.get_trials()}
    assert states[dead.number] == optuna.trial.TrialState.FAIL
    assert states[alive.number] == optuna.trial.TrialState.RUNNING


# ---- a real PostgreSQL server


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL cluster on a free port, stopped and deleted afterwards."""
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver (visionfit[tune-server])")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binary (apt-get install postgresql; .ci/run does it)")
    prefix: list[str] = []
    root = tempfile.mkdtemp(prefix="visionfit-pg-")
    if os.geteuid() == 0:  # postgres refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(root, "data"), _free_port()

    def run(*cmd):
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync")
    opts = f"-k {root} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = os.path.join(root, "server.log")
    try:
        run(str(bindir / "pg_ctl"), "-D", data, "-o", opts, "-l", log, "-w", "-t", "60", "start")
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_the_postgres_advisory_lock_excludes_a_second_holder(postgres_url):
    first, second = ts.lock_for(postgres_url), ts.lock_for(postgres_url)
    events = []
    first.acquire()

    def other():
        with second.held():
            events.append("second")

    t = threading.Thread(target=other)
    t.start()
    time.sleep(1.0)
    events.append("first releases")
    first.release()
    first.release()  # twice is harmless (tune's worker loop does that)
    t.join(timeout=30)
    assert events == ["first releases", "second"]


def _tune_cli(data, runs, storage, trials, study="pg"):
    cmd = [sys.executable, "-m", "visionfit.cli", "tune", str(data), "--trials", str(trials)]
    cmd += ["--storage", storage, "--study", study, "--epochs", "1", "--img-size", "16"]
    cmd += ["--batch-size", "8", "--workers", "0", "--runs-dir", str(runs)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "200"}
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


@pytest.mark.slow
def test_two_workers_on_one_postgres_study_run_each_trial_once(postgres_url, tiny_data, tmp_path):
    runs = tmp_path / "runs"
    workers = [_tune_cli(tiny_data, runs, postgres_url, 4) for _ in range(2)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    for w, out in zip(workers, outputs, strict=True):
        assert w.returncode == 0, out
    study = optuna.load_study(study_name="pg", storage=ts.server_url(postgres_url))
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert all(t.state.is_finished() for t in study.trials), [t.state for t in study.trials]
    # each trial ran exactly once, in one worker, with a run directory of its own
    run_dirs = [t.user_attrs["run_dir"] for t in study.trials]
    assert len(set(run_dirs)) == 4
    assert len(list((runs / "tune-pg" / "trials").iterdir())) == 4
    assert sum(o.count("\ntrial ") + o.startswith("trial ") for o in outputs) == 4
    assert all("best trial" in o for o in outputs)


@pytest.mark.slow
def test_two_workers_on_one_journal_file_run_each_trial_once(tiny_data, tmp_path):
    log = tmp_path / "shared" / "study.log"  # a path ending in .log is a journal
    workers = [_tune_cli(tiny_data, tmp_path / f"runs{k}", str(log), 3, "j2") for k in range(2)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    for w, out in zip(workers, outputs, strict=True):
        assert w.returncode == 0, out
    storage = ts.open_storage(str(log), heartbeat=10, grace=60)
    study = optuna.load_study(study_name="j2", storage=storage)
    assert [t.number for t in study.trials] == [0, 1, 2]
    assert all(t.state.is_finished() for t in study.trials), [t.state for t in study.trials]
    assert len({t.user_attrs["run_dir"] for t in study.trials}) == 3
    assert sum(o.count("\ntrial ") + o.startswith("trial ") for o in outputs) == 3
