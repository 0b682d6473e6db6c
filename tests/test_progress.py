"""Progress off a terminal (visionfit/progress.py): a line at least every interval, with the
count, rate and time left, and a closing line; the clock is stepped, never slept on."""

from __future__ import annotations

import io

import pytest

from visionfit import progress as p


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_interval_with_rate_and_time_left() -> None:
    clock, out = Clock(), io.StringIO()
    line = p.LineProgress("scanning", 1000, "files", stream=out, every=30, clock=clock)
    for done in range(1, 1001):
        clock.now += 0.125  # 8 files/s: 125 s in all
        line.update(done)
    line.close()
    lines = out.getvalue().splitlines()
    # 125 s of work at one line per 30 s: at 30, 60, 90 and 120 s, then the closing line
    assert len(lines) == 5
    assert lines[0] == "scanning: 240/1,000 files (24 %), 8.0 files/s, about 1 min 35 s left"
    assert lines[-1] == "scanning: 1,000 files done in 2 min 5 s"


def test_quick_work_prints_nothing_and_zero_prints_every_update() -> None:
    clock, out = Clock(), io.StringIO()
    with_default = p.LineProgress("x", 3, stream=out, every=30, clock=clock)
    for i in range(3):
        clock.now += 1
        with_default.update(i + 1)
    with_default.close()
    assert out.getvalue() == ""
    every = p.LineProgress("x", 3, stream=out, every=0, clock=clock)
    for i in range(3):
        clock.now += 1
        every.update(i + 1)
    assert len(out.getvalue().splitlines()) == 3


def test_unknown_total_says_the_count_and_rate() -> None:
    clock, out = Clock(), io.StringIO()
    line = p.LineProgress("reading", None, "pairs", stream=out, every=0, clock=clock)
    clock.now += 2
    line.update(50)
    assert out.getvalue().strip() == "reading: 50 pairs, 25 pairs/s"


def test_interval_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(p.ENV, raising=False)
    assert p.interval() == 30
    p.set_interval(5)
    assert p.interval() == 5
    monkeypatch.setenv(p.ENV, "nonsense")
    assert p.interval() == 30
    with pytest.raises(ValueError):
        p.set_interval(-1)


def test_off_a_terminal_progress_writes_lines(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(p.sys, "stderr", out)
    monkeypatch.setenv(p.ENV, "0")
    with p.progress("predicting", 2, "images") as shown:
        shown.advance()
        shown.advance()
    assert "predicting: 2/2 images (100 %)" in out.getvalue()
    with p.progress("quiet", 2, enabled=False) as shown:
        shown.advance()
    assert "quiet" not in out.getvalue()


@pytest.mark.parametrize(
    ("seconds", "text"), [(4.4, "4 s"), (60, "1 min"), (700, "11 min 40 s"), (7500, "2 h 05 min")]
)
def test_durations(seconds, text) -> None:
    assert p.duration_text(seconds) == text
