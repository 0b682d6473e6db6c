"""Work handed to a thread pool a window at a time.

`Executor.map` submits every item at once: a future, a work item and, later, its result per item
for the whole run, which at ten million files is gigabytes before the first result is taken.
`imap_unordered` keeps at most `window` items submitted and not yet taken back.

>>> with ThreadPoolExecutor(4) as pool:
...     total = sum(imap_unordered(pool, len, ["a", "bb"], window=16))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, wait
from typing import TypeVar

__all__ = ["PER_THREAD", "imap_unordered", "window_for"]

T = TypeVar("T")
R = TypeVar("R")

# Items in flight per thread: enough to keep every thread busy between two takes.
PER_THREAD = 4


def window_for(threads: int) -> int:
    return max(1, threads) * PER_THREAD


def imap_unordered(
    pool: Executor, fn: Callable[[T], R], items: Iterable[T], window: int
) -> Iterator[R]:
    """`fn(item)` for every item, run in `pool`, in the order they finish; at most `window`
    submitted and not yet yielded. A call that raises raises here (the pool's `with` then
    waits for the few still in flight)."""
    pending: set = set()
    for item in items:
        if len(pending) >= window:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
        pending.add(pool.submit(fn, item))
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for fut in done:
            yield fut.result()
