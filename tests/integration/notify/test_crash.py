"""The dispatcher under failure and load: a SIGKILLed dispatcher loses no notification, and two
replicas share a burst without sending any notification twice.

Both run against real PostgreSQL and the local webhook sink (sinks.py); every body the sink
receives is verified with the reference `standardwebhooks` library.

Checked against broken dispatchers: a claim whose lease never ends fails the first test (the
killed one's row is never sent again), a new `webhook-id` per attempt fails it too, and a claim
without its row lock fails the second (10 to 50 of the 200 sent twice). `FOR UPDATE` without
`SKIP LOCKED` passes the second, rightly: the replicas wait on each other's claims, and
PostgreSQL rechecks `due_at` after the wait, so nothing is sent twice (only slower).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, text
from standardwebhooks import Webhook

from services.notify import dispatcher, models
from services.notify.context import NotifyContext
from shared.db.engine import create_engine, session_factory
from tests.infra import REPO
from tests.integration.notify.conftest import WHSEC, alerted, new_dispute_id, new_seller, webhook_prefs
from tests.integration.notify.sinks import Behaviour, HttpSink, Received
from tests.support import eventually

LEASE_S = 2.0  # the dispatcher processes' lease: how long a killed one's claim keeps its row
BURST = 200


def verified(request: Received) -> dict:
    """The body, after the standardwebhooks library checked its signature (raises otherwise)."""
    headers = {k: v for k, v in request.headers.items() if k.startswith("webhook-")}
    return Webhook(WHSEC).verify(request.body, headers)  # type: ignore[no-any-return]


async def _spawn(database_url: str, output: Path) -> asyncio.subprocess.Process:
    with output.open("ab") as log:  # the child keeps its own descriptor
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.notify.dispatcher_process",
            database_url,
            str(LEASE_S),
            cwd=REPO,
            env=os.environ,
            stdout=log,
            stderr=log,
        )


async def _running(process: asyncio.subprocess.Process, output: Path, until: Callable[[], Awaitable[bool]]) -> None:
    """Wait for `until()` while the dispatcher runs; a failure shows the end of what the processes wrote."""

    async def check() -> bool:
        if process.returncode is not None:
            raise AssertionError(f"the dispatcher process exited {process.returncode}")
        return await until()

    try:
        await eventually(check, timeout_s=30, interval_s=0.05)
    except AssertionError as exc:
        written = await asyncio.to_thread(output.read_text, errors="replace")
        raise AssertionError(f"{exc}; the dispatcher processes wrote: {written[-3000:]}") from None


async def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await process.wait()


async def _row(notify, notification_id: uuid.UUID):
    t = models.notifications
    async with notify.session() as session:
        return (await session.execute(select(t).where(t.c.id == notification_id))).one()


async def test_a_dispatcher_sigkilled_between_claim_and_record_loses_no_notification(notify, tmp_path):
    output = tmp_path / "dispatcher.log"
    seller, dispute = new_seller(), new_dispute_id()
    held = asyncio.Event()

    def hold_the_first(_: Received) -> Behaviour:
        if not held.is_set():
            held.set()
            return Behaviour(delay_s=60)  # open until the dispatcher that sent it is killed
        return Behaviour()

    url = notify.settings.database_url
    async with HttpSink(hold_the_first) as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url))
        now = notify.clock.now()
        await notify.deliver_events(alerted(dispute, seller, now + timedelta(days=2), now))
        [row] = await notify.notifications(seller)
        notification_id = uuid.UUID(row["id"])

        first = await _spawn(url, output)
        try:
            await _running(first, output, _set(held))  # claimed, committed, in the send
        finally:
            await _kill(first)
        claimed = await _row(notify, notification_id)
        # The kill landed between the claim and the record: claimed, nothing recorded.
        assert claimed.lease_id is not None
        assert (claimed.status, claimed.attempts) == ("pending", 0)

        second = await _spawn(url, output)
        try:
            await _running(second, output, lambda: _delivered(notify, seller))
            await asyncio.sleep(LEASE_S + 1)  # room for a repeat to show up
        finally:
            await _kill(second)
        requests = list(sink.received)

    assert len(requests) == 2  # the killed attempt and the one after its lease ended
    bodies = [verified(r) for r in requests]  # both signed with the seller's secret
    assert {b["data"]["dispute_id"] for b in bodies} == {dispute}
    assert {r.headers["webhook-id"] for r in requests} == {str(notification_id)}
    [row] = await notify.notifications(seller)
    assert row["status"] == "delivered" and row["attempts"] == 1
    assert [(a["attempt"], a["status_code"], a["outcome"]) for a in row["attempt_log"]] == [(1, 200, "delivered")]
    assert (await _row(notify, notification_id)).lease_id is None


def _set(event: asyncio.Event) -> Callable[[], Awaitable[bool]]:
    async def is_set() -> bool:
        return event.is_set()

    return is_set


async def _delivered(notify, seller: str) -> bool:
    return [r["status"] for r in await notify.notifications(seller)] == ["delivered"]


def _delivered_by(ctx: NotifyContext) -> float:
    """The replica's own count of delivered attempts (its `dd_notify_deliveries` counter)."""
    [metric] = ctx.metrics.deliveries.collect()
    return sum(s.value for s in metric.samples if s.name.endswith("_total") and s.labels["outcome"] == "delivered")


async def test_two_dispatcher_replicas_share_a_burst_and_send_no_notification_twice(notify):
    seller = new_seller()
    async with HttpSink(lambda _: Behaviour(delay_s=0.005)) as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url))
        now = notify.clock.now()
        due = now + timedelta(days=2)
        await notify.deliver_events(*(alerted(new_dispute_id(), seller, due, now) for _ in range(BURST)))
        async with notify.session() as session:
            t = models.notifications
            ids = set((await session.execute(select(t.c.id).where(t.c.seller_id == seller))).scalars())
        assert len(ids) == BURST

        # Two replicas: each its own engine and context (its own HTTP client, metrics and wake-up),
        # the service's worker loop around `dispatch`, small claims so that the burst takes many.
        settings = notify.settings.model_copy(update={"dispatch_batch": 10, "dispatch_concurrency": 5})
        engines = [create_engine(settings.database_url, pool_size=2) for _ in range(2)]
        contexts = [NotifyContext.of(settings, notify.clock) for _ in engines]
        loops = [dispatcher.loop(session_factory(e), c) for e, c in zip(engines, contexts, strict=True)]
        try:
            for engine in engines:  # connected first, so neither replica drains the burst alone while the other dials
                async with engine.connect() as connection:
                    await connection.execute(text("select 1"))
            tasks = [asyncio.create_task(loop.run()) for loop in loops]
            try:
                await eventually(lambda: _count(notify, seller, "delivered", BURST), timeout_s=60)
                await asyncio.sleep(1)  # room for a repeat to show up
            finally:
                for loop in loops:
                    loop.stop()
                await asyncio.gather(*tasks)
        finally:
            for ctx in contexts:
                await ctx.channels.http.aclose()
            for engine in engines:
                await engine.dispose()
        requests = list(sink.received)

    per_id = Counter(r.headers["webhook-id"] for r in requests)
    twice = {i: n for i, n in per_id.items() if n > 1}
    assert not twice, f"{len(twice)} notifications sent more than once"
    assert set(per_id) == {str(i) for i in ids}  # every one delivered
    for request in requests:
        verified(request)
    shares = [_delivered_by(ctx) for ctx in contexts]
    assert sum(shares) == BURST
    assert min(shares) > 0, f"one replica did all the work: {shares}"
    assert all(not loop.failures for loop in loops)


async def _count(notify, seller: str, status: str, n: int) -> bool:
    t = models.notifications
    async with notify.session() as session:
        query = select(t.c.id).where(t.c.seller_id == seller, t.c.status == status)
        return len((await session.execute(query)).all()) >= n
