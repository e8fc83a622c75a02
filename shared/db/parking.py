"""Events that arrived before the fact they depend on, parked in the service's own schema.

One dispute's events travel on several topics, so a service may read `dispute.updated` before
`dispute.received`. The handler says so by raising `Deferred` (`shared.kafka.handlers`); the
event is parked here, in the consumer's transaction (so the offset moves on and nothing is
dead-lettered), and replayed by the transaction that later records the missing fact.

Why a lock: a parker and the transaction recording the fact may run at the same time on two
consumers, each blind to the other's uncommitted rows. Every release check holds a shared
advisory lock on the dispute before reading this table, and a parker takes it exclusively and
tries its handler once more before parking; so either the parker sees the fact, or the fact's
transaction sees the parked row. That relies on READ COMMITTED (each statement a new snapshot).
The release check is one round trip: the `parked_events_of` function created with the table.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import MetaData, Table, Text, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.contracts import Envelope
from shared.db.backbone import PARKED_TABLE, parked_of_function, parked_table
from shared.db.session import session_scope
from shared.tracing import current_traceparent

__all__ = [
    "ParkedEvent",
    "delete_parked",
    "disputes_with_parked",
    "lock_dispute",
    "mark_failed",
    "park",
    "parked_of",
    "parked_of_locked",
    "parked_stats",
    "parked_table",
    "refresh_parked_metrics",
]

# Rows replayed per release; the rest wait for the next one (keeps one transaction bounded).
RELEASE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    id: int
    dataschema: str
    payload: bytes
    reason: str
    traceparent: str | None
    parked_at: datetime


async def lock_dispute(session: AsyncSession, table: Table, dispute_id: str, *, exclusive: bool) -> None:
    """Hold the dispute's parking lock until the transaction ends (shared to read, exclusive to park)."""
    lock = func.pg_advisory_xact_lock if exclusive else func.pg_advisory_xact_lock_shared
    # The two-int form: its key space is apart from the one-bigint locks (e.g. the migration lock).
    await session.execute(select(lock(func.hashtext(table.fullname), func.hashtext(dispute_id))))


async def park(session: AsyncSession, table: Table, event: Envelope[Any], reason: str) -> None:
    """Keep `event` for later; parking the same event id twice keeps it once."""
    stmt = (
        pg_insert(table)
        .values(
            event_id=event.id,
            dispute_id=event.subject,
            dataschema=event.dataschema,
            payload=event.to_bytes(),
            reason=reason,
            traceparent=current_traceparent(),
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    await session.execute(stmt)


async def parked_of(session: AsyncSession, table: Table, dispute_id: str) -> list[ParkedEvent]:
    """The dispute's parked events in arrival order (at most RELEASE_LIMIT)."""
    t = table.c
    rows = await session.execute(
        select(t.id, t.dataschema, t.payload, t.reason, t.traceparent, t.parked_at)
        .where(t.dispute_id == dispute_id)
        .order_by(t.id)
        .limit(RELEASE_LIMIT)
    )
    return [ParkedEvent(*row) for row in rows]


async def parked_of_locked(session: AsyncSession, table: Table, dispute_id: str) -> list[ParkedEvent]:
    """`lock_dispute(shared)` then `parked_of`, in one round trip; the lock lasts until the transaction ends."""
    stmt = text(
        f"SELECT id, dataschema, payload, reason, traceparent, parked_at FROM {parked_of_function(table)}(:d, :n)"
    )
    rows = await session.execute(stmt, {"d": dispute_id, "n": RELEASE_LIMIT})
    return [ParkedEvent(*row) for row in rows]


async def disputes_with_parked(session: AsyncSession, table: Table, dispute_ids: list[str]) -> set[str]:
    """Which of `dispute_ids` have parked events, each dispute's shared lock taken first (held until the end).

    Two round trips for any number of disputes: the locks (in dispute order), then, in a new
    snapshot that sees every parker that held a lock before us, the look-up.
    """
    if not dispute_ids:
        return set()
    ids = sorted(set(dispute_ids))
    await session.execute(
        text(
            "SELECT count(pg_advisory_xact_lock_shared(hashtext(:t), hashtext(d))) "
            "FROM (SELECT unnest(CAST(:ids AS text[])) AS d ORDER BY 1) AS wanted"
        ),
        {"t": table.fullname, "ids": ids},
    )
    found = await session.execute(
        select(table.c.dispute_id).where(table.c.dispute_id == func.any(bindparam("ids", ids, ARRAY(Text)))).distinct()
    )
    return set(found.scalars())


async def delete_parked(session: AsyncSession, table: Table, parked_id: int) -> None:
    await session.execute(delete(table).where(table.c.id == parked_id))


async def mark_failed(session: AsyncSession, table: Table, parked_id: int, reason: str) -> None:
    """A replay that failed (not deferred): it stays parked, and says why."""
    await session.execute(update(table).where(table.c.id == parked_id).values(reason=reason[:2000]))


async def parked_stats(session: AsyncSession, table: Table) -> tuple[int, float]:
    """How many events are parked, and the age in seconds of the oldest (0 when none)."""
    age = func.extract("epoch", func.now() - func.min(table.c.parked_at))
    count, oldest = (await session.execute(select(func.count(), age).select_from(table))).one()
    return count, max(float(oldest or 0), 0.0)


class _ParkedGauges:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.count = Gauge(
            "dd_parked_events",
            "Events parked until the earlier fact of their dispute arrives",
            ["service"],
            registry=registry,
        )
        self.oldest_age = Gauge(
            "dd_parked_oldest_age_seconds",
            "Age of the oldest parked event (0 when none)",
            ["service"],
            registry=registry,
        )


_gauges: weakref.WeakKeyDictionary[CollectorRegistry, _ParkedGauges] = weakref.WeakKeyDictionary()


def parked_gauges(registry: CollectorRegistry) -> _ParkedGauges:
    """The two gauges in `registry`, registered on first use."""
    if registry not in _gauges:
        _gauges[registry] = _ParkedGauges(registry)
    return _gauges[registry]


async def refresh_parked_metrics(
    registry: CollectorRegistry, sessions: async_sessionmaker[AsyncSession], metadata: MetaData
) -> tuple[int, float]:
    """Set `dd_parked_events` and `dd_parked_oldest_age_seconds` of this service; call at scrape time.

    The service is `metadata`'s schema, whose `parked_events` table is read. Returns (count, age).
    """
    table = metadata.tables[f"{metadata.schema}.{PARKED_TABLE}"]
    async with session_scope(sessions) as session:
        count, age = await parked_stats(session, table)
    gauges = parked_gauges(registry)
    gauges.count.labels(metadata.schema).set(count)
    gauges.oldest_age.labels(metadata.schema).set(age)
    return count, age
