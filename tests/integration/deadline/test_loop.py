"""The scheduler loop sleeps until the next due row, is woken by a sooner commit, and outlives outages."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy.engine import make_url

from services.deadline import scheduler
from services.deadline.context import DeadlineContext
from services.deadline.settings import Settings
from shared.db.engine import create_engine, session_factory
from tests.integration.deadline.conftest import new_dispute_id, received
from tests.support import eventually


async def test_a_commit_that_schedules_sooner_wakes_the_sleeping_loop(deadline):
    worker = scheduler.loop(deadline.sessions, deadline.context)
    loop = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.waiting.wait(), 5)  # ticked, asleep for up to 30 s
        assert deadline.context.wakeup.planned_at > deadline.clock.now()
        dispute = new_dispute_id()
        deadline.clock.advance(timedelta(seconds=10))
        now = deadline.clock.now()
        # Due in exactly 1 h: the 1 h reminder is due right now, far sooner than the loop's next look.
        await deadline.deliver_events(
            received(dispute, notified_at=now - timedelta(hours=1), respond_by=now + timedelta(hours=1))
        )
        # Within 10 s while the loop sleeps 30 s: only the wake-up after commit delivers in time.
        alerts = await eventually(lambda: deadline.events(dispute, "deadline.alerted"), timeout_s=10, interval_s=0.1)
        assert [(a.data.alert, a.data.offset_minutes) for a in alerts] == [("reminder", 60)]
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


class Gate:
    """A TCP gate in front of PostgreSQL: closed, connections are refused; open, they pass through."""

    def __init__(self, port: int, upstream: tuple[str, int]) -> None:
        self.port, self.upstream = port, upstream
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            pipe = asyncio.create_task(_pipe(src, dst))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    try:
        while data := await src.read(65536):
            dst.write(data)
            await dst.drain()
    finally:
        dst.close()


@contextlib.asynccontextmanager
async def gated_database(database_url: str, port: int) -> AsyncIterator[tuple[Gate, str]]:
    real = make_url(database_url)
    gate = Gate(port, (real.host or "127.0.0.1", real.port or 5432))
    try:
        yield gate, real.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        await gate.close()


async def test_the_loop_waits_out_a_database_it_cannot_reach_then_fires_what_came_due(deadline, unused_tcp_port):
    async with gated_database(deadline.app.state.runtime.settings.database_url, unused_tcp_port) as (gate, url):
        engine = create_engine(url, pool_size=1)
        ctx = DeadlineContext(Settings(scheduler_backoff_max_s=0.2), clock=deadline.clock)
        worker = scheduler.loop(session_factory(engine), ctx)
        loop = asyncio.create_task(worker.run())
        try:
            await eventually(lambda: _true(worker.failures >= 3), timeout_s=10, interval_s=0.05)
            assert worker.passes == 0 and not loop.done()  # backing off, not dead, nothing done
            # Meanwhile a dispute arrives (through the service's own, reachable, connection) whose
            # 1 h reminder is due at the clock's time.
            dispute = new_dispute_id()
            now = deadline.clock.now()
            await deadline.deliver_events(
                received(dispute, notified_at=now - timedelta(hours=1), respond_by=now + timedelta(hours=1))
            )
            await gate.open()  # the database is back for the loop
            alerts = await eventually(lambda: deadline.events(dispute, "deadline.alerted"), timeout_s=5, interval_s=0.1)
            assert [(a.data.alert, a.data.offset_minutes) for a in alerts] == [("reminder", 60)]
            assert worker.failures == 0 and worker.passes >= 1
        finally:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
            await engine.dispose()


async def _true(value: bool) -> bool:
    return value
