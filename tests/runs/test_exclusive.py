"""One exclusive create: of two writers racing for one new path, exactly one succeeds."""

from __future__ import annotations

import multiprocessing as mp
import threading

import pytest

from visionfit.errors import OutputExistsError, VisionfitError
from visionfit.fileio import create_exclusive, open_exclusive


def test_refuses_an_existing_file_with_the_usual_words(tmp_path):
    out = tmp_path / "p.csv"
    create_exclusive(out, "first\n")
    with pytest.raises(OutputExistsError, match=r"p.csv exists; choose another --out \(files"):
        create_exclusive(out, "second\n")
    with pytest.raises(VisionfitError, match="choose another --csv"):
        create_exclusive(out, "second\n", flag="--csv")
    assert out.read_text() == "first\n"


def test_a_failed_write_leaves_nothing(tmp_path):
    out = tmp_path / "p.csv"
    with pytest.raises(KeyError), open_exclusive(out, "w") as f:
        f.write("half")
        raise KeyError("boom")
    assert list(tmp_path.iterdir()) == []


def test_two_threads_one_winner(tmp_path):
    out = tmp_path / "race.txt"
    barrier = threading.Barrier(2)
    results: list[str] = []

    def write(tag: str) -> None:
        try:
            with open_exclusive(out, "w") as f:
                f.write(tag)
                barrier.wait(timeout=10)  # both are inside, neither has finished
            results.append(tag)
        except OutputExistsError:
            results.append("refused")

    threads = [threading.Thread(target=write, args=(t,)) for t in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results.count("refused") == 1
    winner = next(r for r in results if r != "refused")
    assert out.read_text() == winner
    assert [p.name for p in tmp_path.iterdir()] == ["race.txt"]  # no temporary file left


def _write_in_process(path: str, tag: str, start, queue) -> None:
    start.wait(timeout=10)
    try:
        create_exclusive(path, tag * 1000)
        queue.put(tag)
    except OutputExistsError:
        queue.put("refused")


def test_two_processes_one_winner(tmp_path):
    out = tmp_path / "race.txt"
    ctx = mp.get_context("fork")  # spawn would re-import this test module by name
    start, queue = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_write_in_process, args=(str(out), t, start, queue)) for t in "ab"]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=60)
    results = sorted(queue.get(timeout=10) for _ in procs)
    assert results.count("refused") == 1
    winner = next(r for r in results if r != "refused")
    assert out.read_text() == winner * 1000
