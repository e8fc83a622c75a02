"""Timers under load and failure: several replicas and a killed scheduler fire every reminder exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from services.deadline import models, scheduler
from services.deadline.context import DeadlineContext
from services.deadline.settings import Settings
from shared.clock import ManualClock
from shared.contracts import parse_event
from shared.db.engine import create_engine, session_factory
from tests.infra import REPO
from tests.integration.deadline.conftest import received
from tests.support import eventually

BURST = 1000


async def _burst(deadline, prefix: str, **fields) -> list[str]:
    disputes = [f"{prefix}-{i:05d}" for i in range(BURST)]
    for i in range(0, BURST, 250):  # four consumed batches
        await deadline.deliver_events(*(received(d, **fields) for d in disputes[i : i + 250]))
    return disputes


async def _alerts(deadline, prefix: str) -> list[tuple[str, str, int | None]]:
    """(dispute, alert, offset) of every deadline.alerted of these disputes in the outbox (kept there)."""
    t = models.outbox_table
    async with deadline.session() as session:
        query = select(t.c.payload).where(t.c.topic == "deadline.alerted", t.c.key.like(f"{prefix}-%"))
        payloads = (await session.execute(query)).scalars().all()
    return [(e.subject, e.data.alert, e.data.offset_minutes) for e in map(parse_event, payloads)]


async def _reminder_states(deadline, prefix: str) -> dict[str, int]:
    t = models.reminders
    async with deadline.session() as session:
        query = select(t.c.state, func.count()).where(t.c.dispute_id.like(f"{prefix}-%")).group_by(t.c.state)
        return dict((await session.execute(query)).all())


async def test_two_scheduler_replicas_fire_every_reminder_of_a_burst_exactly_once(deadline):
    prefix = f"R{os.getpid()}x{datetime.now(UTC):%H%M%S%f}"
    due = datetime(2026, 11, 26, 14, 59, 59, tzinfo=UTC)
    await _burst(deadline, prefix)
    clock = ManualClock(deadline.clock.now())
    engines = [create_engine(deadline.settings.database_url, pool_size=2) for _ in range(2)]
    replicas = [
        (session_factory(engine), DeadlineContext(Settings(scheduler_batch=40), clock=clock)) for engine in engines
    ]

    async def drain(sessions, ctx) -> int:
        fired = 0
        while True:
            done = await scheduler.tick(sessions, ctx)
            fired += done.fired + done.missed
            if not (done.fired or done.missed or done.skipped or done.full):
                return fired

    try:
        # Connect both replicas first: on a loaded machine the second engine's first connection
        # took longer than the first replica needed to drain a whole step alone.
        for engine in engines:
            async with engine.connect() as connection:
                await connection.execute(text("select 1"))
        per_replica = []
        for at in (due - timedelta(hours=h) for h in (72, 24, 6, 1)):
            clock.set(at + timedelta(seconds=1))
            per_replica.append(await asyncio.gather(*(drain(*r) for r in replicas)))
        clock.set(due + timedelta(seconds=1))
        per_replica.append(await asyncio.gather(*(drain(*r) for r in replicas)))
    finally:
        for engine in engines:
            await engine.dispose()

    alerts = await _alerts(deadline, prefix)
    assert len(alerts) == 5 * BURST
    assert len(set(alerts)) == 5 * BURST  # each (dispute, reminder offset) and each missed exactly once
    assert {(alert, offset) for _, alert, offset in alerts} == {
        ("reminder", 4320),
        ("reminder", 1440),
        ("reminder", 360),
        ("reminder", 60),
        ("missed", None),
    }
    assert all(sum(step) == BURST for step in per_replica)
    assert all(min(step) > 0 for step in per_replica)  # both replicas really took part
    assert await _reminder_states(deadline, prefix) == {"fired": 4 * BURST}


async def _spawn(database_url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.deadline.scheduler_process",
        database_url,
        "10",
        cwd=REPO,
        env=os.environ,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def test_a_scheduler_killed_mid_burst_and_restarted_loses_and_repeats_no_reminder(deadline):
    """Due now by the system clock: each dispute's 6 h reminder (72 h and 24 h passed long ago: skipped)."""
    prefix = f"K{os.getpid()}x{datetime.now(UTC):%H%M%S%f}"
    real_now = datetime.now(UTC).replace(microsecond=0)
    deadline.clock.set(real_now - timedelta(days=10))  # scheduled back then: all four reminders pending
    await _burst(deadline, prefix, notified_at=real_now - timedelta(days=10), respond_by=real_now + timedelta(hours=2))
    url = deadline.settings.database_url
    process = await _spawn(url)
    try:
        await eventually(lambda: _fired_at_least(deadline, prefix, BURST // 4), timeout_s=30, interval_s=0.02)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        at_kill = len(await _alerts(deadline, prefix))
        assert at_kill < BURST, "the burst finished before the kill: make it slower"
        process = await _spawn(url)
        await eventually(lambda: _fired_at_least(deadline, prefix, BURST), timeout_s=30)
        await asyncio.sleep(1)  # room for a repeat to show up
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()

    alerts = await _alerts(deadline, prefix)
    assert len(alerts) == BURST and len(set(alerts)) == BURST
    assert {(alert, offset) for _, alert, offset in alerts} == {("reminder", 360)}
    assert await _reminder_states(deadline, prefix) == {"fired": BURST, "skipped": 2 * BURST, "pending": BURST}


async def _fired_at_least(deadline, prefix: str, n: int) -> bool:
    return (await _reminder_states(deadline, prefix)).get("fired", 0) >= n
