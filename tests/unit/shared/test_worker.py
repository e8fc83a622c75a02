"""The one worker loop, driven by its own events (no database): due now, sleep, wake-up, backoff, stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import structlog

from shared.backoff import Backoff
from shared.worker import FAR, Wakeup, WorkerLoop
from tests.support import eventually

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
INSTANT = Backoff(base_s=0.001, cap_s=0.001, rand=lambda: 0.0)  # failures retried at once


class Script:
    """A step that returns (or raises) the scripted outcomes in turn, then "nothing known"."""

    def __init__(self, *outcomes: float | None | Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> float | None:
        self.calls += 1
        if not self.outcomes:
            return None
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


async def sleeping(loop: WorkerLoop) -> None:
    await asyncio.wait_for(loop.waiting.wait(), 2)


async def test_work_due_now_is_done_at_once_and_then_the_loop_sleeps_the_longest_it_may():
    step = Script(0.0, 0.0, None)
    loop = WorkerLoop("t", step, backoff=INSTANT, max_sleep_s=60, clock=lambda: NOW)
    task = asyncio.create_task(loop.run())
    try:
        await sleeping(loop)
        assert step.calls == 3 and loop.passes == 3
        assert loop.wakeup.planned_at == NOW + timedelta(seconds=60)
        await asyncio.sleep(0.05)
        assert step.calls == 3  # asleep: no polling in between
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_sleep_ends_at_the_next_due_time_capped_by_the_longest():
    step = Script(0.02, 3600.0)
    loop = WorkerLoop("t", step, backoff=INSTANT, max_sleep_s=60, clock=lambda: NOW)
    task = asyncio.create_task(loop.run())
    try:
        await sleeping(loop)
        assert loop.wakeup.planned_at == NOW + timedelta(seconds=0.02)
        await _until(lambda: step.calls == 2 and loop.waiting.is_set())
        assert loop.wakeup.planned_at == NOW + timedelta(seconds=60)  # 3600 s capped
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_wakeup_ends_the_sleep_and_one_set_during_a_pass_is_not_lost():
    calls = 0
    loop: WorkerLoop

    async def step() -> float | None:
        nonlocal calls
        calls += 1
        if calls == 2:
            loop.wakeup.set()  # a commit while the pass runs: its row may be past the claim
        return None

    loop = WorkerLoop("t", step, backoff=INSTANT, max_sleep_s=3600)
    task = asyncio.create_task(loop.run())
    try:
        await sleeping(loop)
        assert calls == 1
        loop.wakeup.set()
        await _until(lambda: calls == 3 and loop.waiting.is_set())
        assert loop.wakeup.planned_at != FAR
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_failures_back_off_with_the_policy_then_reset_and_the_loop_never_dies():
    delays: list[int] = []

    class Recording(Backoff):
        def delay(self, attempt: int) -> float:
            delays.append(attempt)
            return 0.0

    seen: list[Exception] = []

    async def on_failure(exc: Exception) -> None:
        seen.append(exc)

    boom = [ConnectionRefusedError("db away"), RuntimeError("a bug"), ConnectionRefusedError("still away")]
    step = Script(*boom, None)
    loop = WorkerLoop(
        "t", step, backoff=Recording(0.1, 1.0), max_sleep_s=3600, on_failure=on_failure, transient=_refused
    )
    with structlog.testing.capture_logs() as lines:
        task = asyncio.create_task(loop.run())
        try:
            await sleeping(loop)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert delays == [1, 2, 3] and seen == boom
    assert (loop.failures, loop.last_error, loop.passes) == (0, None, 1)
    backing_off = [(line["log_level"], line["failures"]) for line in lines if line["event"] == "worker_backing_off"]
    assert backing_off == [("warning", 1), ("error", 2), ("warning", 3)]  # an outage warns, a bug is an error


async def test_the_failure_count_and_error_show_while_it_keeps_failing():
    never = Backoff(base_s=3600, cap_s=3600, rand=lambda: 1.0)
    loop = WorkerLoop("t", Script(OSError("away")), backoff=never, max_sleep_s=60)
    task = asyncio.create_task(loop.run())
    try:
        await _until(lambda: loop.failures == 1)
        assert isinstance(loop.last_error, OSError) and not loop.waiting.is_set()
        loop.wakeup.set()  # a wake-up does not cut the backoff short
        await asyncio.sleep(0.05)
        assert loop.failures == 1 and not task.done()
        loop.stop()  # a stop does
        await asyncio.wait_for(task, 2)
    finally:
        task.cancel()


async def test_stop_ends_the_sleep_and_lets_the_pass_in_hand_finish():
    started, release = asyncio.Event(), asyncio.Event()
    finished = []

    async def slow() -> float | None:
        started.set()
        await release.wait()
        finished.append(True)
        return 0.0  # "more now": only the stop ends the loop

    loop = WorkerLoop("t", slow, backoff=INSTANT, max_sleep_s=3600)
    task = asyncio.create_task(loop.run())
    await asyncio.wait_for(started.wait(), 2)
    loop.stop()
    release.set()
    await asyncio.wait_for(task, 2)
    assert finished == [True]

    asleep = WorkerLoop("t", Script(), backoff=INSTANT, max_sleep_s=3600)
    task = asyncio.create_task(asleep.run())
    await sleeping(asleep)
    asleep.stop()
    await asyncio.wait_for(task, 2)


async def test_cancelling_the_loop_cancels_the_pass_in_hand():
    started = asyncio.Event()

    async def forever() -> float | None:
        started.set()
        await asyncio.Event().wait()
        return None

    task = asyncio.create_task(WorkerLoop("t", forever, backoff=INSTANT, max_sleep_s=1).run())
    await asyncio.wait_for(started.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_wakeup_waits_for_its_time_or_its_event():
    wakeup = Wakeup()
    assert await wakeup.wait(0.01, NOW) is False and wakeup.planned_at == FAR
    asyncio.get_running_loop().call_later(0.01, wakeup.set)
    assert await wakeup.wait(10, NOW) is True


def test_a_negative_longest_sleep_is_refused():
    with pytest.raises(ValueError):
        WorkerLoop("t", Script(), backoff=INSTANT, max_sleep_s=-1)


def _refused(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionRefusedError)


async def _until(condition) -> None:
    async def holds() -> bool:
        return bool(condition())

    await eventually(holds, timeout_s=2, interval_s=0.001)
