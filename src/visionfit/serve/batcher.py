"""Dynamic batching: concurrent requests share one forward pass.

Each request is admitted (or refused at once with Busy when `capacity` requests are already in
the server), prepared by the caller outside the model (decoding in a thread pool), then `submit`
puts it in the pending list and awaits its future. One collector task on the event loop takes up
to `max_batch` pending items and runs `run_batch(items)` in the one model thread. While the
batch is not full and admitted requests are still being prepared, it waits for them, at most
`max_wait` seconds after its oldest item arrived; with nobody being prepared it runs at once
with what is there (under load: what arrived while the previous batch ran), so a lone request
never waits and max_batch 1 is one request at a time. `run_batch` returns one result or
exception per item, so one bad image fails only its own request; when the whole call raises,
each item of the batch is retried alone so the error lands only on the item(s) that cause it.

>>> batcher = Batcher(lambda xs: [f(x) for x in xs], max_batch=16, max_wait=0.005, max_queue=8)
>>> async with batcher.admit() as ticket:
...     x = decode(upload)              # concurrently with other requests
...     y = await batcher.submit(x, ticket)  # computed in a batch with whatever came meanwhile
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any


class Busy(Exception):
    """The server holds `capacity` requests already."""


class Batcher:
    """Admission (bounded), collection into batches, one model thread."""

    def __init__(
        self,
        run_batch: Callable[[list], Sequence[Any]],
        *,
        max_batch: int,
        max_wait: float,
        max_queue: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
        thread_init: Callable[[], Any] | None = None,
    ):
        if max_batch < 1 or max_queue < 0 or max_wait < 0:
            raise ValueError("max_batch must be >= 1, max_queue >= 0 and max_wait >= 0")
        self.run_batch = run_batch
        self.max_batch, self.max_wait, self.max_queue = int(max_batch), float(max_wait), max_queue
        # one batch in the model and up to max_queue more requests waiting (or being decoded)
        self.capacity = self.max_batch + int(max_queue)
        self.admitted = 0  # requests in the server; only touched on the event loop's thread
        self.batches: list[int] = []  # sizes of the last batches run (for tests and /health)
        self.batches_run = self.images_run = 0  # totals since start (for /health)
        self._clock, self._sleep = clock, sleep
        self._thread_init = thread_init  # run once in the model thread when it starts
        self._pending: deque[tuple[Any, asyncio.Future, float]] = deque()
        self.preparing = 0  # admitted, not yet submitted (decoding)
        self._changed: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._model: ThreadPoolExecutor | None = None

    @asynccontextmanager
    async def admit(self):
        """A place in the server for one request, or Busy at once when there is none. Until
        the request is `submit`ted it counts as being prepared: a batch waits for it."""
        if self.admitted >= self.capacity:
            raise Busy
        self.admitted += 1
        self.preparing += 1
        ticket = _Ticket()
        try:
            yield ticket
        finally:
            self.admitted -= 1
            if not ticket.joined:  # refused while preparing (a bad image): stop waiting for it
                self.preparing -= 1
                self._changed_now()

    async def submit(self, item: Any, ticket: _Ticket | None = None) -> Any:
        """The result of `run_batch` for `item`, computed in a batch (its exception raised);
        `ticket`: the one `admit` gave this request."""
        if self._task is None or self._task.done():
            if self._model is None:
                self._model = ThreadPoolExecutor(
                    1, thread_name_prefix="visionfit-model", initializer=self._thread_init
                )
            self._changed = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._collect())
        if ticket is not None and not ticket.joined:
            ticket.joined = True
            self.preparing -= 1
        future = asyncio.get_running_loop().create_future()
        self._pending.append((item, future, self._clock()))
        self._changed_now()
        return await future

    def _changed_now(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def _collect(self) -> None:
        while True:
            while not self._pending:
                self._changed.clear()
                await self._changed.wait()
            await self._until_full_or_due()
            n = min(self.max_batch, len(self._pending))
            await self._run([self._pending.popleft() for _ in range(n)])

    async def _until_full_or_due(self) -> None:
        """Wait while the batch is not full and admitted requests are still being prepared
        (they will join it), at most `max_wait` after its oldest item arrived. With nobody
        preparing there is nothing known to wait for: the batch runs with what is there (under
        load, what arrived while the previous batch ran)."""
        due = None
        try:
            while len(self._pending) < self.max_batch and self.preparing > 0:
                left = self._pending[0][2] + self.max_wait - self._clock()
                if left <= 0:
                    return
                due = due or asyncio.ensure_future(self._sleep(left))
                self._changed.clear()
                changed = asyncio.ensure_future(self._changed.wait())
                try:
                    await asyncio.wait({changed, due}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                if due.done():
                    return
        finally:
            if due is not None:
                due.cancel()

    async def _run(self, batch: list) -> None:
        items = [item for item, _, _ in batch]
        loop = asyncio.get_running_loop()
        self.batches = [*self.batches[-99:], len(items)]
        self.batches_run, self.images_run = self.batches_run + 1, self.images_run + len(items)
        results: Sequence[Any] = [Busy()] * len(items)
        try:
            results = await loop.run_in_executor(self._model, _run_each, self.run_batch, items)
        except asyncio.CancelledError:  # closing: these requests get Busy, not a hang
            raise
        except Exception as e:  # the executor is shut down: fail the batch, keep collecting
            results = [e] * len(items)
        finally:
            _resolve(batch, results)

    async def close(self) -> None:
        """Stop collecting, fail what is still pending with Busy, end the model thread."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while self._pending:
            _, future, _ = self._pending.popleft()
            if not future.done():
                future.set_exception(Busy())
        if self._model is not None:
            self._model.shutdown(wait=True, cancel_futures=True)
            self._model = None


class _Ticket:
    """One admitted request: whether it has joined the pending batch yet."""

    __slots__ = ("joined",)

    def __init__(self):
        self.joined = False


def _resolve(batch: list, results: Sequence[Any]) -> None:
    for (_, future, _), result in zip(batch, results, strict=True):
        if future.done():  # the client went away
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _run_each(run_batch: Callable[[list], Sequence[Any]], items: list) -> list:
    """`run_batch(items)`; when it raises as a whole, each item alone, so an error lands only on
    the item that causes it."""
    try:
        results = list(run_batch(items))
        if len(results) != len(items):
            raise RuntimeError(f"run_batch gave {len(results)} results for {len(items)} items")
        return results
    except Exception as e:
        if len(items) == 1:
            return [e]
    out: list = []
    for item in items:
        try:
            out.extend(run_batch([item]))
        except Exception as e:
            out.append(e)
    return out
