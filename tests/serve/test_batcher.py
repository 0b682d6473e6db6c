"""The batcher with a fake model: concurrent submissions share one call up to max_batch, the wait
for a batch to fill ends on a (fake) timer, errors stay with their item, the bound refuses at
once. No wall-clock assertions: the timer is an event the test fires."""

from __future__ import annotations

import asyncio
import threading

import pytest

from visionfit.serve.batcher import Batcher, Busy


class FakeModel:
    """Records each call's items; doubles numbers, fails on "bad" (one result per item)."""

    def __init__(self, *, gate: threading.Event | None = None):
        self.calls: list[list] = []
        self.gate = gate

    def __call__(self, items: list) -> list:
        if self.gate is not None:
            assert self.gate.wait(30)
        self.calls.append(list(items))
        return [ValueError(f"bad item {x}") if x == "bad" else x * 2 for x in items]


class FakeTimer:
    """A `sleep` that returns only when the test fires it (or when the batcher cancels it)."""

    def __init__(self):
        self.fired = asyncio.Event()
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await self.fired.wait()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def _submit_all(batcher: Batcher, items: list) -> list:
    async def one(x):
        async with batcher.admit() as ticket:
            return await batcher.submit(x, ticket)

    try:
        return await asyncio.gather(*(one(x) for x in items), return_exceptions=True)
    finally:
        await batcher.close()


def test_concurrent_submissions_share_one_call_up_to_max_batch():
    model, timer = FakeModel(), FakeTimer()
    batcher = Batcher(model, max_batch=4, max_wait=10.0, max_queue=8, sleep=timer)
    # 8 at once: two full batches, neither waits for the (never fired) timer
    results = run(_submit_all(batcher, list(range(8))))
    assert results == [x * 2 for x in range(8)]
    assert [len(c) for c in model.calls] == [4, 4]
    assert sorted(x for c in model.calls for x in c) == list(range(8))


def test_max_batch_1_is_one_call_per_request():
    model = FakeModel()
    batcher = Batcher(model, max_batch=1, max_wait=10.0, max_queue=8, sleep=FakeTimer())
    results = run(_submit_all(batcher, [1, 2, 3, 4, 5]))
    assert results == [2, 4, 6, 8, 10]
    assert model.calls == [[1], [2], [3], [4], [5]]


def test_the_model_thread_runs_its_setup_once_before_any_batch():
    seen: list[str] = []

    def setup():
        seen.append(f"setup in {threading.current_thread().name}")

    def model(items: list) -> list:
        seen.append(f"batch in {threading.current_thread().name}")
        return items

    batcher = Batcher(model, max_batch=2, max_wait=0.0, max_queue=8, thread_init=setup)
    assert run(_submit_all(batcher, [1, 2, 3, 4])) == [1, 2, 3, 4]
    assert seen[0].startswith("setup in visionfit-model") and seen.count(seen[0]) == 1
    assert all(s.startswith("batch in visionfit-model") for s in seen[1:]) and len(seen) >= 3


def test_the_served_torch_model_thread_keeps_a_core_for_the_event_loop(monkeypatch):
    import torch

    from visionfit.serve import _service

    monkeypatch.setattr(_service.os, "cpu_count", lambda: 3)
    got: list[int] = []

    def in_thread(start: int):
        torch.set_num_threads(start)  # what OMP_NUM_THREADS (or torch's default) gave
        _service._model_thread_setup()
        got.append(torch.get_num_threads())

    for start in (4, 1):
        t = threading.Thread(target=in_thread, args=(start,))
        t.start()
        t.join()
    assert got == [2, 1]  # all cores but one, never more than allowed


async def _settle():
    for _ in range(20):  # let the collector reach its wait
        await asyncio.sleep(0)


def test_a_partial_batch_waits_for_requests_still_being_prepared_until_the_timer():
    model, timer = FakeModel(), FakeTimer()
    batcher = Batcher(model, max_batch=4, max_wait=0.005, max_queue=8, sleep=timer)
    decoded = asyncio.Event()

    async def slow_to_decode():  # admitted, decoding, then refused (a bad image)
        async with batcher.admit():
            await decoded.wait()

    async def scenario():
        slow = asyncio.ensure_future(slow_to_decode())
        await _settle()
        tasks = [asyncio.ensure_future(batcher.submit(x)) for x in (1, 2)]
        await _settle()
        assert batcher.preparing == 1
        assert model.calls == [] and not any(t.done() for t in tasks)  # waits for the third
        assert len(timer.waits) == 1 and 0 < timer.waits[0] <= 0.005  # bounded by max_wait
        timer.fired.set()
        out = await asyncio.gather(*tasks)
        decoded.set()
        await slow
        await batcher.close()
        return out

    assert run(scenario()) == [2, 4]
    assert model.calls == [[1, 2]]


def test_a_partial_batch_runs_when_the_last_one_being_prepared_joins():
    model, timer = FakeModel(), FakeTimer()
    batcher = Batcher(model, max_batch=4, max_wait=10.0, max_queue=8, sleep=timer)
    decoded = asyncio.Event()

    async def one(x, wait: bool):
        async with batcher.admit() as ticket:
            if wait:
                await decoded.wait()
            return await batcher.submit(x, ticket)

    async def scenario():
        tasks = [asyncio.ensure_future(one(x, x == 3)) for x in (1, 2, 3)]
        await _settle()
        assert model.calls == [] and batcher.preparing == 1
        decoded.set()  # the third joins: nobody else is coming, run without the timer
        out = await asyncio.gather(*tasks)
        await batcher.close()
        return out

    assert run(scenario()) == [2, 4, 6]
    assert model.calls == [[1, 2, 3]] and not timer.fired.is_set()


def test_a_lone_request_never_waits():
    model, timer = FakeModel(), FakeTimer()
    batcher = Batcher(model, max_batch=16, max_wait=10.0, max_queue=8, sleep=timer)
    assert run(_submit_all(batcher, [5])) == [10]
    assert model.calls == [[5]] and timer.waits == []


def test_a_bad_item_fails_alone():
    model = FakeModel()
    batcher = Batcher(model, max_batch=8, max_wait=10.0, max_queue=8, sleep=FakeTimer())
    results = run(_submit_all(batcher, [1, "bad", 3, 4, 5, 6, 7, 8]))
    assert isinstance(results[1], ValueError) and "bad item" in str(results[1])
    assert [r for i, r in enumerate(results) if i != 1] == [2, 6, 8, 10, 12, 14, 16]
    assert len(model.calls) == 1


def test_a_batch_that_raises_is_retried_item_by_item():
    def model(items):
        if "boom" in items:
            raise RuntimeError("shape mismatch")
        return [x + 1 for x in items]

    batcher = Batcher(model, max_batch=3, max_wait=10.0, max_queue=8, sleep=FakeTimer())
    results = run(_submit_all(batcher, [1, "boom", 3]))
    assert results[0] == 2 and results[2] == 4
    assert isinstance(results[1], RuntimeError)


def test_beyond_capacity_is_busy_at_once_and_within_it_never():
    gate = threading.Event()
    model = FakeModel(gate=gate)
    batcher = Batcher(model, max_batch=2, max_wait=0.0, max_queue=3, sleep=FakeTimer())
    assert batcher.capacity == 5

    async def scenario():
        async def one(x):
            async with batcher.admit() as ticket:
                return await batcher.submit(x, ticket)

        tasks = [asyncio.ensure_future(one(x)) for x in range(5)]  # capacity: all admitted
        for _ in range(20):
            await asyncio.sleep(0)
        assert batcher.admitted == 5
        with pytest.raises(Busy):
            async with batcher.admit():
                pass
        gate.set()  # the model runs; everyone admitted gets an answer
        out = await asyncio.gather(*tasks)
        assert batcher.admitted == 0
        async with batcher.admit():  # room again
            out.append(await batcher.submit(10))
        await batcher.close()
        return out

    assert run(scenario()) == [0, 2, 4, 6, 8, 20]


def test_close_ends_the_model_thread_and_fails_pending():
    model, timer = FakeModel(), FakeTimer()
    batcher = Batcher(model, max_batch=4, max_wait=10.0, max_queue=8, sleep=timer)
    never = asyncio.Event()

    async def decoding_forever():
        async with batcher.admit():
            await never.wait()

    async def scenario():
        slow = asyncio.ensure_future(decoding_forever())
        await _settle()
        task = asyncio.ensure_future(batcher.submit(1))  # waits for the one being decoded
        await _settle()
        await batcher.close()
        with pytest.raises(Busy):
            await task
        slow.cancel()

    run(scenario())
    assert model.calls == []
    assert not [t for t in threading.enumerate() if t.name.startswith("visionfit-model")]


def test_limits_are_validated():
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(FakeModel(), max_batch=0, max_wait=0.005, max_queue=8)
