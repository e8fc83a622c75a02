"""The scheduler loop sleeps until the next due row, is woken by a sooner commit, and outlives outages."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from services.deadline import scheduler
from services.deadline.context import DeadlineContext
from services.deadline.settings import Settings
from shared.db.engine import create_engine, session_factory
from tests.integration.deadline.conftest import new_dispute_id, received
from tests.support import eventually


async def test_a_commit_that_schedules_sooner_wakes_the_sleeping_loop(deadline):
    loop = asyncio.create_task(scheduler.run(deadline.sessions, deadline.context))
    try:
        await asyncio.sleep(0.5)  # the loop has ticked and sleeps up to scheduler_max_sleep_s (30 s)
        assert deadline.context.wakeup.planned_at > deadline.clock.now()
        dispute = new_dispute_id()
        deadline.clock.advance(timedelta(seconds=10))
        now = deadline.clock.now()
        # Due in exactly 1 h: the 1 h reminder is due right now, far sooner than the loop's next look.
        await deadline.deliver_events(
            received(dispute, notified_at=now - timedelta(hours=1), respond_by=now + timedelta(hours=1))
        )
        alerts = await eventually(lambda: deadline.events(dispute, "deadline.alerted"), timeout_s=3, interval_s=0.1)
        assert [(a.data.alert, a.data.offset_minutes) for a in alerts] == [("reminder", 60)]
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


async def test_the_loop_survives_a_database_it_cannot_reach(deadline, unused_tcp_port):
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{unused_tcp_port}/nowhere", pool_size=1)
    ctx = DeadlineContext(Settings(scheduler_backoff_max_s=0.2))
    loop = asyncio.create_task(scheduler.run(session_factory(engine), ctx))
    try:
        await asyncio.sleep(1.5)  # several failed ticks, each logged and backed off
        assert not loop.done()
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await engine.dispose()
