"""Progress of long work: a Rich bar on a terminal, a line every N seconds in a log.

A scan of 300,000 files, a cache build, an epoch, `auto`'s stages or a large predict can run for
many minutes with the output going to a file (a batch job, `nohup`, CI), where a Rich bar draws
nothing at all. So every piece of long work goes through `progress(...)`: on a terminal it is a
bar (transient), elsewhere a line at least every `interval()` seconds

    scanning: 12,000/300,000 files (4 %), 410 files/s, about 11 min 40 s left

and a closing line with the total time when the work printed any. The interval is 30 s, set with
`--progress SECONDS` on the commands that do long work (or VISIONFIT_PROGRESS_SECONDS, which the
option sets, so that processes started by the run inherit it); 0 prints a line on every update.
Status output goes to stderr, as the rest of visionfit's status lines do. The clock is a
parameter, so tests step it instead of sleeping.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

DEFAULT_SECONDS = 30.0
ENV = "VISIONFIT_PROGRESS_SECONDS"


def interval() -> float:
    """Seconds between two progress lines off a terminal (VISIONFIT_PROGRESS_SECONDS, else 30)."""
    raw = os.environ.get(ENV, "")
    try:
        seconds = float(raw) if raw.strip() else DEFAULT_SECONDS
    except ValueError:
        return DEFAULT_SECONDS
    return seconds if math.isfinite(seconds) and seconds >= 0 else DEFAULT_SECONDS


def set_interval(seconds: float | None) -> float | None:
    """`--progress SECONDS`: for this process and the processes it starts."""
    if seconds is not None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("--progress takes seconds between progress lines, 0 or more")
        os.environ[ENV] = repr(float(seconds))
    return seconds


def on_terminal(stream: TextIO | None = None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def in_a_log() -> bool:
    """Progress for work that keeps its own terminal display (auto's stage lines): lines in a
    log, no bars on a terminal."""
    return not on_terminal()


def duration_text(seconds: float) -> str:
    """`45 s`, `11 min 40 s`, `2 h 05 min`."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s} s" if s else f"{minutes} min"
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min"


class LineProgress:
    """`label: done/total unit (pct), rate, about T left` at most every `every` seconds."""

    def __init__(
        self,
        label: str,
        total: int | None,
        unit: str = "files",
        *,
        stream: TextIO | None = None,
        every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.label, self.total, self.unit = label, total, unit
        self.stream = sys.stderr if stream is None else stream
        self.every = interval() if every is None else every
        self.clock = clock
        self.start = self.last = clock()
        self.done = 0
        self.lines = 0

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self._write(self.line(now))

    def line(self, now: float) -> str:
        elapsed = now - self.start
        text = f"{self.label}: {self.done:,}"
        if self.total:
            text += f"/{self.total:,} {self.unit} ({100 * self.done / self.total:.0f} %)"
        else:
            text += f" {self.unit}"
        if elapsed > 0 and self.done > 0:
            rate = self.done / elapsed
            text += f", {rate:,.1f} {self.unit}/s" if rate < 10 else f", {rate:,.0f} {self.unit}/s"
            if self.total and self.total > self.done:
                text += f", about {duration_text((self.total - self.done) / rate)} left"
        return text

    def close(self) -> None:
        if self.lines:  # a log that showed the work going on also shows it ending
            took = duration_text(self.clock() - self.start)
            self._write(f"{self.label}: {self.done:,} {self.unit} done in {took}")

    def _write(self, text: str) -> None:
        self.lines += 1
        print(text, file=self.stream, flush=True)


class _RichBar:
    def __init__(self, label: str, total: int | None):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.bar.__enter__()
        self.task = self.bar.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        self.bar.advance(self.task, n)

    def update(self, done: int, total: int | None = None) -> None:
        self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        self.bar.__exit__(None, None, None)


class _Silent:
    def advance(self, n: int = 1) -> None:
        pass

    def update(self, done: int, total: int | None = None) -> None:
        pass

    def close(self) -> None:
        pass


@contextmanager
def progress(
    label: str, total: int | None, unit: str = "files", *, enabled: bool = True
) -> Iterator[LineProgress | _RichBar | _Silent]:
    """The progress of one piece of work: `.advance(n)` or `.update(done[, total])` as it goes."""
    shown = _Silent() if not enabled else _RichBar(label, total) if on_terminal() else None
    shown = shown or LineProgress(label, total, unit)
    try:
        yield shown
    finally:
        shown.close()
