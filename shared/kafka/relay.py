"""Outbox relay: publishes committed outbox rows to Kafka, in order per dispute, then deletes them.

Several relays (one per replica) may run on one outbox. Each claims a batch with
`FOR UPDATE SKIP LOCKED`, so no row is published by two of them at once; a dispute whose
earlier row is held by another relay waits for it, so per-dispute order survives. A crash after
Kafka acknowledged a batch but before the delete committed republishes it: consumers are
idempotent, which is what makes "at least once" here "exactly once" in effect.

When a batch fails part-way, only each dispute's acknowledged rows up to its first failed one
are deleted; the rest stay, in order, for the next try. Failures back off exponentially and
shrink the batch, so an outage costs a few small attempts, not a storm of republished rows.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence

import asyncpg
from aiokafka.structs import RecordMetadata
from sqlalchemy import Table, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from shared.backoff import Backoff
from shared.contracts.envelope import CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE
from shared.db.backbone import notify_channel, qualified_name
from shared.kafka.producer import KafkaProducer, kafka_headers
from shared.metrics import BackboneMetrics
from shared.settings import ServiceSettings
from shared.tracing import continued_from
from shared.worker import Wakeup, WorkerLoop


def asyncpg_dsn(database_url: str) -> str:
    """SQLAlchemy URL (postgresql+asyncpg://...) to a plain DSN asyncpg.connect accepts."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def acknowledged_prefix(keys: Sequence[str], acked: Sequence[bool]) -> list[int]:
    """Indexes of rows safe to delete: per key (dispute), the acknowledged rows before its first failure.

    A later row of a dispute whose earlier row failed stays even if Kafka took it, so the
    retry republishes the dispute's rows in order (consumers drop the duplicate).
    """
    broken: set[str] = set()
    done = []
    for i, (key, ok) in enumerate(zip(keys, acked, strict=True)):
        if ok and key not in broken:
            done.append(i)
        else:
            broken.add(key)
    return done


class PublishFailed(Exception):
    """Part of a batch was not acknowledged; the acknowledged prefix was deleted all the same."""

    def __init__(self, published: int, failed: int, error: BaseException | None) -> None:
        super().__init__(f"{failed} rows not published ({published} were): {error!r}")
        self.published = published
        self.error = error


class OutboxRelay:
    def __init__(
        self,
        *,
        outbox_table: Table,
        producer: KafkaProducer,
        settings: ServiceSettings,
        metrics: BackboneMetrics | None = None,
    ) -> None:
        """`settings` gives the database, batch size, poll interval, backoff and timeouts.

        The relay claims, deletes and listens on one asyncpg connection of its own (plain SQL,
        prepared once): through a pooled SQLAlchemy session a cycle cost ~2 ms of CPU and five
        round trips, which with one writer commit per event put the relay on every hop's
        critical path.
        """
        self._outbox = outbox_table
        self._producer = producer
        self._dsn = asyncpg_dsn(settings.database_url)
        self._metrics = metrics
        self._batch_size = settings.outbox_batch_size
        self._limit = settings.outbox_batch_size  # shrinks while publishing fails
        self._poll_interval_s = settings.outbox_poll_interval_ms / 1000
        # Queued batches expire after one request timeout; in-flight ones are retried for ever.
        self._delivery_timeout_s = 2 * settings.kafka_request_timeout_ms / 1000
        self._wake = Wakeup()  # set by the outbox's NOTIFY
        self._conn: asyncpg.Connection | None = None  # claims, deletes and LISTEN, all on one connection
        self._full = False  # the last claim took a whole batch
        self._held_back = False  # the last claim left rows behind an earlier row another relay holds
        self._table = qualified_name(outbox_table)
        self._claim_sql = _CLAIM_SQL.format(table=self._table)
        self._held_back_wait_s = _HELD_BACK_RETRY_S / 2
        backoff_s = settings.outbox_retry_backoff_ms / 1000
        self.loop = WorkerLoop(
            "outbox-relay",
            self._step,
            backoff=Backoff(base_s=backoff_s, cap_s=max(settings.outbox_retry_backoff_max_ms / 1000, backoff_s)),
            max_sleep_s=self._poll_interval_s,
            wakeup=self._wake,
            on_failure=self._after_failure,
            transient=lambda _: True,  # Kafka or PostgreSQL away: rows stay, try again later
        )
        self._last_progress = time.monotonic()  # last publish, or last time nothing was waiting

    def idle_for_s(self) -> float:
        """Seconds since the relay last published a row or found nothing to publish."""
        return time.monotonic() - self._last_progress

    async def publish_batch(self) -> int:
        """Publish up to one batch; returns how many rows went out, or raises `PublishFailed`."""
        conn = await self._connection()
        await conn.execute("BEGIN")
        try:
            claimed = await conn.fetch(self._claim_sql, self._limit)
            self._full = len(claimed) >= self._limit
            if not claimed:
                await conn.execute("COMMIT")
                self._last_progress = time.monotonic()
                self._held_back = False
                return 0
            ready = [row for row in claimed if row["first_foreign"] is None or row["id"] < row["first_foreign"]]
            self._held_back = len(ready) < len(claimed)
            acked, error = await self._send(ready)
            done = [ready[i] for i in acknowledged_prefix([row["key"] for row in ready], acked)]
            # The delete and the commit in one round trip: two statements in one simple query (the
            # ids are our own integers, written out); if the delete fails the commit never runs.
            ids = ",".join(str(int(row["id"])) for row in done)
            await conn.execute(f"DELETE FROM {self._table} WHERE id IN ({ids}); COMMIT" if done else "COMMIT")
        except BaseException:
            if not conn.is_closed():
                conn.terminate()  # rolls the claim back; the next cycle opens a new connection
            raise
        if done:
            self._last_progress = time.monotonic()
            if self._metrics:
                for topic, count in Counter(row["topic"] for row in done).items():
                    self._metrics.outbox_published.labels(topic).inc(count)
        if len(done) < len(ready):
            self._limit = max(1, self._limit // 2)
            raise PublishFailed(len(done), len(ready) - len(done), error)
        self._limit = min(self._batch_size, self._limit * 2)
        return len(done)

    async def _send(self, rows: Sequence[asyncpg.Record]) -> tuple[list[bool], BaseException | None]:
        """Send `rows`, wait for Kafka's answers; returns which were acknowledged and the first error."""
        deliveries: list[asyncio.Future[RecordMetadata]] = []
        error: BaseException | None = None
        try:
            for row in rows:
                headers = json.loads(row["headers"])
                with continued_from(headers):  # the publish span continues the writer's trace
                    deliveries.append(
                        await self._producer.send(
                            row["topic"],
                            value=row["payload"],
                            key=row["key"].encode(),
                            headers=kafka_headers({CONTENT_TYPE_HEADER: STRUCTURED_CONTENT_TYPE, **headers}),
                        )
                    )
        except Exception as exc:  # e.g. no producer while the broker is away: the rest waits
            error = exc
        if deliveries:
            _, pending = await asyncio.wait(deliveries, timeout=self._delivery_timeout_s)
            if pending:  # the broker holds them without answering: start over with a new producer
                await self._producer.reset(TimeoutError(f"{len(pending)} deliveries unanswered"))
                await asyncio.wait(pending, timeout=1)
        acked = [d.done() and not d.cancelled() and d.exception() is None for d in deliveries]
        for d in deliveries:
            if error is None and d.done() and not d.cancelled() and d.exception() is not None:
                error = d.exception()
        return acked + [False] * (len(rows) - len(deliveries)), error

    @property
    def failures(self) -> int:
        """Consecutive failed attempts."""
        return self.loop.failures

    @property
    def last_error(self) -> BaseException | None:
        error = self.loop.last_error
        return error.error if isinstance(error, PublishFailed) and error.error else error

    async def run(self) -> None:
        """Publish until cancelled: at once on NOTIFY, else every poll interval; back off while failing.

        The shared worker loop (`shared/worker.py`) around `_step`; `run()` closes the connection.
        """
        try:
            await self.loop.run()
        finally:
            await self.close()

    async def _step(self) -> float | None:
        await self._connection()  # listening before the claim: what commits after it notifies us
        published = await self.publish_batch()
        if published and self._full:
            return 0.0  # a full batch: more may be waiting
        if self._held_back:  # soon, then less often while the other relay keeps them
            self._held_back_wait_s = min(2 * self._held_back_wait_s, self._poll_interval_s)
            return self._held_back_wait_s
        self._held_back_wait_s = _HELD_BACK_RETRY_S / 2
        # Anything committed since the claim has notified us: no empty claim per event.
        return None

    async def _after_failure(self, exc: Exception) -> None:
        if self._metrics:
            self._metrics.relay_failures.inc()
        if not isinstance(exc, PublishFailed):
            await self.close()  # it may be the database that went away

    async def _connection(self) -> asyncpg.Connection:
        """The relay's own connection, (re)opened on demand, listening for the outbox's NOTIFY."""
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        conn = await asyncpg.connect(
            self._dsn,
            timeout=5,
            # The delete need not wait for the disk: losing it in a crash only republishes rows
            # Kafka already has, which consumers' inboxes absorb. It shortens every relay cycle.
            server_settings={"synchronous_commit": "off", "application_name": "outbox-relay"},
        )
        try:
            await conn.add_listener(notify_channel(self._outbox.schema), lambda *_: self._wake.set())
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        return conn

    async def close(self) -> None:
        """Close the relay's connection (`run()` does it when cancelled)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await asyncio.wait_for(conn.close(), 2)
            except Exception:
                conn.terminate()


# Seconds before claiming again when rows wait behind an earlier row of their dispute that another
# relay holds (that relay's delete sends no NOTIFY); doubled up to the poll interval while it lasts,
# e.g. while the other relay waits out a Kafka outage.
_HELD_BACK_RETRY_S = 0.01

# Lock up to $1 rows, each with the first earlier row of its dispute we did not lock. One
# statement (one round trip, one snapshot): rows of the same dispute that another relay holds are
# visible but locked, so they are not in `claimed` and hold ours back.
_CLAIM_SQL = """
WITH claimed AS MATERIALIZED (
    SELECT id, topic, key, payload, headers::text AS headers FROM {table}
    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
), foreign_rows AS (
    SELECT other.key, min(other.id) AS first_foreign FROM {table} AS other
    WHERE other.key IN (SELECT key FROM claimed)
      AND other.id <= (SELECT max(id) FROM claimed)
      AND other.id NOT IN (SELECT id FROM claimed)
    GROUP BY other.key
)
SELECT claimed.id, claimed.topic, claimed.key, claimed.payload, claimed.headers, foreign_rows.first_foreign
FROM claimed LEFT OUTER JOIN foreign_rows ON foreign_rows.key = claimed.key
ORDER BY claimed.id
"""


async def outbox_state(session: AsyncSession, outbox: Table) -> tuple[int, float]:
    """Rows waiting in `outbox`, and the age in seconds of the oldest (0 when empty)."""
    count, age = (
        await session.execute(
            select(
                func.count(), func.coalesce(func.extract("epoch", func.now() - func.min(outbox.c.created_at)), 0)
            ).select_from(outbox)
        )
    ).one()
    return count, float(age)
