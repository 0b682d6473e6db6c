"""The scan at scale (issue 20, point 4): a bounded number of files in the threads at once, and
the compact structures (slotted, interned, streamed from the cache; groups built only for shared
hashes) giving the same records and groups as before."""

from __future__ import annotations

import sys
from concurrent.futures import Future
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from visionfit.data import bounded
from visionfit.data import scan as scan_mod
from visionfit.data.duplicates import duplicate_groups, leakage_groups
from visionfit.data.scan import FileScan, scan_files
from visionfit.data.scan_cache import ScanCache


class _Counting(Future):
    """A future that counts itself outstanding from its submission to its result's taking."""

    def __init__(self, pool: _FakePool):
        super().__init__()
        self.pool = pool
        self.taken = False

    def result(self, timeout=None):
        if not self.taken:
            self.taken = True
            self.pool.outstanding -= 1
        return super().result(timeout)


class _FakePool:
    """An executor that runs each job at once but counts the futures not yet taken back."""

    def __init__(self, max_workers=None):
        self.outstanding = self.most = self.submitted = 0
        _FakePool.last = self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def submit(self, fn, *args, **kw):
        fut = _Counting(self)
        self.submitted += 1
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        fut.set_result(fn(*args, **kw))
        return fut


def _images(folder, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        p = folder / f"{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


def test_files_in_flight_are_bounded_by_the_threads(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_mod, "ThreadPoolExecutor", _FakePool)
    monkeypatch.setattr(scan_mod, "scan_file", lambda p, max_pixels: FileScan(image=p, ok=True))
    paths = [str(tmp_path / f"missing{i}.png") for i in range(200)]
    res = scan_files(paths, max_pixels=10**6, threads=2, cache=ScanCache.disabled())
    pool = _FakePool.last
    assert pool.submitted == 200 and pool.outstanding == 0
    assert pool.most == 2 * bounded.PER_THREAD  # not 200
    assert [f.image for f in res.files] == paths and res.decoded == 200


def test_cached_scan_gives_the_same_records_with_shared_strings(tmp_path):
    paths = _images(tmp_path / "data", 12)
    paths.append(str(tmp_path / "data" / "broken.png"))
    (tmp_path / "data" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png")
    with ScanCache.open({"max_pixels": 10**6}, cache_dir=tmp_path / "cache") as cache:
        cold = scan_files(paths, max_pixels=10**6, threads=2, cache=cache)
    with ScanCache.open({"max_pixels": 10**6}, cache_dir=tmp_path / "cache") as cache:
        warm = scan_files(paths + paths[:2], max_pixels=10**6, threads=2, cache=cache)
    assert (cold.decoded, warm.decoded, warm.cached) == (13, 0, 13)
    assert [asdict(f) for f in warm.files] == [asdict(f) for f in cold.files + cold.files[:2]]
    assert not cold.files[-1].ok and cold.files[0].ok
    modes = {id(f.mode) for f in warm.files if f.ok}  # one string object, not one per file
    assert len(modes) == 1 and warm.files[0].mode is sys.intern("RGB")
    assert not hasattr(warm.files[0], "__dict__")  # slotted


def _old_duplicate_groups(good, labels):  # before the compact version, for comparison
    groups: dict[str, set[str]] = {}
    for f in good:
        groups.setdefault(f.sha1, set()).add(f.image)
    return [
        {"sha1": d, "images": sorted(i), "labels": sorted({labels[x] for x in i})}
        for d, i in sorted(groups.items())
        if len(i) > 1
    ]


def _old_leakage_groups(df, sha1):
    frame = pd.DataFrame(
        {"image": df["image"], "split": df["split"], "sha1": df["image"].map(sha1)}
    ).dropna(subset=["sha1"])
    groups = []
    for digest, g in frame.groupby("sha1", sort=True):
        splits = set(g["split"])
        if "train" in splits and splits & {"val", "test"}:
            group = {"sha1": digest}
            for name in ("train", "val", "test"):
                if name in splits or name != "test":
                    group[name] = sorted(g.loc[g["split"] == name, "image"])
            groups.append(group)
    return groups


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_duplicate_and_leakage_groups_as_before(seed):
    rng = np.random.default_rng(seed)
    n = 300
    images = [f"/d/{i}.png" for i in range(n)]
    digests = [f"{h:040x}" for h in rng.integers(0, 120, n)]  # many shared hashes
    good = [FileScan(image=p, ok=True, sha1=d) for p, d in zip(images, digests, strict=True)]
    good.append(FileScan(image=images[0], ok=True, sha1=digests[0]))  # a file listed twice
    labels = {p: f"c{rng.integers(0, 3)}" for p in images}
    assert duplicate_groups(good, labels) == _old_duplicate_groups(good, labels)
    df = pd.DataFrame({"image": images, "split": rng.choice(["train", "val", "test"], n)})
    sha1 = dict(zip(images[:-10], digests[:-10], strict=True))  # some without a hash
    new = leakage_groups(df, sha1)
    assert new == _old_leakage_groups(df, sha1) and len(new) > 10


def test_imap_unordered_keeps_the_window_and_raises():
    pool = _FakePool()
    out = sorted(bounded.imap_unordered(pool, lambda x: x * x, range(100), window=5))
    assert out == [x * x for x in range(100)] and pool.most == 5 and pool.outstanding == 0

    def boom(x):
        if x == 7:
            raise ValueError("seven")
        return x

    with pytest.raises(ValueError, match="seven"):
        list(bounded.imap_unordered(_FakePool(), boom, range(20), window=3))


def test_a_large_scan_in_worker_processes_gives_what_threads_give(tmp_path, monkeypatch):
    """Worker processes (a large scan on several cores) give the same records, in the order
    of the paths, bad files included, as the threads do."""
    if not scan_mod._can_fork():
        pytest.skip("worker processes are used only where fork is")
    paths = _images(tmp_path / "imgs", 40) + [str(tmp_path / "missing.png")]
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 40)
    paths.append(str(tmp_path / "bad.png"))
    in_threads = scan_files(paths, max_pixels=10**6, cache=ScanCache.disabled())

    used: list[int] = []
    in_processes = scan_mod._in_processes
    monkeypatch.setattr(scan_mod, "PROCESS_MIN_FILES", 10)
    monkeypatch.setattr(scan_mod, "_PROCESS_CHUNK", 8)
    monkeypatch.setattr(scan_mod, "_in_processes", lambda *a: used.append(1) or in_processes(*a))
    monkeypatch.setattr(scan_mod.os, "cpu_count", lambda: 2)
    processes = scan_files(paths, max_pixels=10**6, threads=2, cache=ScanCache.disabled())
    assert used
    assert [asdict(f) for f in processes.files] == [asdict(f) for f in in_threads.files]
    assert [f.reason for f in processes.files[-2:]] == ["missing", in_threads.files[-1].reason]


def test_a_dead_worker_process_leaves_the_rest_of_the_scan_to_threads(tmp_path, monkeypatch):
    """A worker process that dies (a decoder crashing on a hostile file) does not end the scan:
    what it had not given back is scanned in threads, each file once."""
    from concurrent.futures.process import BrokenProcessPool

    paths = _images(tmp_path / "imgs", 30)

    def dies_after_ten(todo, max_pixels, workers):  # two chunks of 5 given back, then none
        for start in (0, 5):
            yield start, [scan_mod._scan_keyed(p, max_pixels) for p in todo[start : start + 5]]
        raise BrokenProcessPool("a worker died")

    monkeypatch.setattr(scan_mod, "_PROCESS_CHUNK", 5)

    monkeypatch.setattr(scan_mod, "PROCESS_MIN_FILES", 10)
    monkeypatch.setattr(scan_mod, "_can_fork", lambda: True)
    monkeypatch.setattr(scan_mod.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(scan_mod, "_in_processes", dies_after_ten)
    scanned: list[str] = []
    scan_file = scan_mod.scan_file
    monkeypatch.setattr(
        scan_mod,
        "scan_file",
        lambda p, max_pixels: scanned.append(p) or scan_file(p, max_pixels=max_pixels),
    )
    res = scan_files(paths, max_pixels=10**6, threads=2, cache=ScanCache.disabled())
    assert [f.image for f in res.files] == paths and all(f.ok for f in res.files)
    assert sorted(scanned) == sorted(paths) and res.decoded == 30


def _scan_ok(paths: list[str]) -> bool:
    res = scan_files(paths, max_pixels=10**6, threads=2, cache=ScanCache.disabled())
    return all(f.ok for f in res.files)


def test_a_scan_in_a_daemonic_process_stays_in_threads(tmp_path, monkeypatch):
    """A multiprocessing pool's worker may not have children: a large scan there runs in
    threads instead of failing."""
    import multiprocessing

    if not sys.platform.startswith("linux"):
        pytest.skip("fork")
    monkeypatch.setattr(scan_mod, "PROCESS_MIN_FILES", 10)  # inherited by the forked worker
    monkeypatch.setattr(scan_mod.os, "cpu_count", lambda: 2)
    paths = _images(tmp_path / "imgs", 20)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(_scan_ok, (paths,))
