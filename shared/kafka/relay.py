"""Outbox relay: publishes committed outbox rows to Kafka, in order per dispute, then deletes them.

Several relays (one per replica) may run on one outbox. Each claims a batch with
`FOR UPDATE SKIP LOCKED`, so no row is published by two of them at once; a dispute whose
earlier row is held by another relay waits for it, so per-dispute order survives. A crash after
Kafka acknowledged a batch but before the delete committed republishes it: consumers are
idempotent, which is what makes "at least once" here "exactly once" in effect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from sqlalchemy import Row, Table, delete, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db.backbone import notify_channel
from shared.db.session import session_scope
from shared.kafka.producer import kafka_headers
from shared.metrics import BackboneMetrics
from shared.tracing import continued_from

log = structlog.get_logger(__name__)


def asyncpg_dsn(database_url: str) -> str:
    """SQLAlchemy URL (postgresql+asyncpg://...) to a plain DSN asyncpg.connect accepts."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class OutboxRelay:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Table,
        producer: AIOKafkaProducer,
        database_url: str,
        metrics: BackboneMetrics | None = None,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._producer = producer
        self._dsn = asyncpg_dsn(database_url)
        self._metrics = metrics
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    async def publish_batch(self) -> int:
        """Publish up to one batch; returns how many rows went out."""
        t = self._outbox
        async with session_scope(self._sessions) as session:
            claimed = (
                await session.execute(
                    select(t.c.id, t.c.topic, t.c.key, t.c.payload, t.c.headers)
                    .order_by(t.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not claimed:
                return 0
            ready = await self._in_dispute_order(session, claimed)
            pending = []
            for row in ready:
                with continued_from(row.headers):  # the publish span continues the writer's trace
                    pending.append(
                        await self._producer.send(
                            row.topic, value=row.payload, key=row.key.encode(), headers=kafka_headers(row.headers)
                        )
                    )
            await asyncio.gather(*pending)  # every record acknowledged by all in-sync replicas
            await session.execute(delete(t).where(t.c.id.in_([row.id for row in ready])))
        if self._metrics:
            for row in ready:
                self._metrics.outbox_published.labels(row.topic).inc()
        return len(ready)

    async def _in_dispute_order(self, session: AsyncSession, claimed: Sequence[Row]) -> list[Row]:
        """Hold back a dispute's rows from the first earlier row that another relay has locked."""
        t = self._outbox
        ours = {row.id for row in claimed}
        same_disputes = await session.execute(
            select(t.c.id, t.c.key)
            .where(t.c.key.in_({row.key for row in claimed}), t.c.id <= max(ours))
            .order_by(t.c.id)
        )
        first_foreign: dict[str, int] = {}
        for row_id, key in same_disputes:
            if row_id not in ours:
                first_foreign.setdefault(key, row_id)
        return [row for row in claimed if row.id < first_foreign.get(row.key, row.id + 1)]

    async def run(self) -> None:
        """Publish until cancelled: at once on NOTIFY, else every poll interval."""
        try:
            while True:
                try:
                    await self._ensure_listener()
                    self._wake.clear()
                    if await self.publish_batch():
                        continue  # more may be waiting: drain before sleeping
                    try:
                        await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
                    except TimeoutError:
                        pass
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # Kafka or PostgreSQL away: rows stay, try again
                    log.warning("outbox_relay_retry", error=repr(exc))
                    await self._close_listener()
                    await asyncio.sleep(self._poll_interval_s)
        finally:
            await self._close_listener()

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = await asyncpg.connect(self._dsn, timeout=5)
        await self._listener.add_listener(notify_channel(self._outbox.schema), lambda *_: self._wake.set())

    async def _close_listener(self) -> None:
        if self._listener is not None:
            listener, self._listener = self._listener, None
            try:
                await asyncio.wait_for(listener.close(), 2)
            except Exception:
                listener.terminate()
