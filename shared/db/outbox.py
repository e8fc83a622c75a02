"""Adding events to a service's outbox, inside the caller's transaction.

Business code never touches the Kafka producer (STYLE habit 4): it calls `outbox.add(session,
event)` beside its state change, and only the relay (`shared.kafka.relay`) publishes.
Per-dispute order follows `id` order; callers that write several events for one dispute in
concurrent transactions must serialise on the dispute's row first (SELECT ... FOR UPDATE).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import Envelope
from shared.db.backbone import notify_channel, qualified_name
from shared.db.session import driver_connection
from shared.tracing import inject_headers

# session.info key: (the transaction that sent NOTIFY, the channels it notified).
_NOTIFIED_KEY = "outbox_notified"


class Outbox:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.channel = notify_channel(table.schema)
        # Plain SQL on the session's asyncpg connection, prepared once by asyncpg (SQLAlchemy's
        # execution of a statement cost more CPU than its round trip). The rows go as arrays, so
        # any number of events is one statement with the same text; the first insert of a
        # transaction also sends the NOTIFY, in the same round trip.
        insert = (
            f"INSERT INTO {qualified_name(table)} (event_id, topic, key, payload, headers) "
            "SELECT e, t, k, p, h FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::jsonb[]) "
            "WITH ORDINALITY AS u(e, t, k, p, h, n) ORDER BY n"  # ids in the order given: per-dispute order
        )
        self._insert = insert
        self._insert_and_notify = f"WITH added AS ({insert} RETURNING 1) SELECT pg_notify($6, '')"

    def statement_part(self, *, source: str, first: int) -> OutboxPart:
        """This outbox's part of a caller's larger statement, for a hot path's single round trip.

        `source` is the name of a CTE of the caller's statement: one event is queued per row it
        returns (none when it returns none); the event's values are parameters `$first` to
        `$first + 5` (`OutboxPart.params`). Every line of outbox SQL stays here.
        """
        e, t, k, p, h, channel = (f"${first + i}" for i in range(6))
        insert = (
            f'INSERT INTO {qualified_name(self.table)} (event_id, topic, "key", payload, headers) '
            f"SELECT {e}::uuid, {t}::text, {k}::text, {p}::bytea, {h}::jsonb FROM {source} RETURNING id"
        )
        return OutboxPart(self, insert, channel)

    async def add(self, session: AsyncSession, *events: Envelope[Any]) -> None:
        """Queue `events` for publication; they exist only if the caller's transaction commits."""
        if not events:
            return
        # The relay publishes later, in its own transaction: the writer's trace context travels
        # with the row, and the relay continues that trace when it publishes.
        headers = json.dumps(inject_headers())
        columns = (
            [event.id for event in events],
            [event.type for event in events],
            [event.subject for event in events],
            [event.to_bytes() for event in events],
            [headers] * len(events),
        )
        connection = await driver_connection(session)
        # NOTIFY is transactional: the relay wakes at commit, and never for a rollback. Once per
        # transaction is enough (PostgreSQL folds equal ones anyway): a consumer batch whose
        # handlers add one event each saves the work per event.
        if self.notified(session):
            await connection.execute(self._insert, *columns)
            return
        await connection.execute(self._insert_and_notify, *columns, self.channel)
        self._mark_notified(session)

    def notified(self, session: AsyncSession) -> bool:
        """Whether this transaction (or savepoint) has sent the relay's NOTIFY already."""
        transaction = session.get_nested_transaction() or session.get_transaction()
        notified = session.info.get(_NOTIFIED_KEY)
        return notified is not None and notified[0] is transaction and self.channel in notified[1]

    def _mark_notified(self, session: AsyncSession) -> None:
        """Record that this transaction sent `pg_notify(self.channel, '')` (here, or in a caller's
        statement with an `OutboxPart`)."""
        # Keyed by the innermost transaction: a NOTIFY inside a savepoint that rolls back is gone.
        transaction = session.get_nested_transaction() or session.get_transaction()
        notified = session.info.get(_NOTIFIED_KEY)
        if notified is None or notified[0] is not transaction:
            notified = (transaction, set[str]())
            session.info[_NOTIFIED_KEY] = notified
        notified[1].add(self.channel)

    async def backlog(self, session: AsyncSession) -> int:
        return (await session.execute(select(func.count()).select_from(self.table))).scalar_one()


@dataclass(frozen=True)
class OutboxPart:
    """An outbox's INSERT (and its relay NOTIFY) inside a caller's statement (`Outbox.statement_part`).

    The caller places `insert` as a data-modifying CTE of its statement, under a name of its
    choosing, selects `notify(that name)` as one of its columns, passes `params(event)` at the
    part's parameter positions, and calls `ran(session)` once the statement queued the event.
    """

    outbox: Outbox
    insert: str
    _channel_param: str

    def notify(self, cte: str) -> str:
        """A scalar subquery that wakes the relay at commit if the CTE `cte` (this insert) queued a row."""
        return f"(SELECT count(pg_notify({self._channel_param}::text, '')) FROM {cte})"

    def params(self, event: Envelope[Any]) -> list[Any]:
        """The part's parameters for `event`: its id, topic, key, payload, the writer's trace headers, the channel."""
        headers = json.dumps(inject_headers())  # as `Outbox.add`: the relay continues the writer's trace
        return [event.id, event.type, event.subject, event.to_bytes(), headers, self.outbox.channel]

    def ran(self, session: AsyncSession) -> None:
        """The statement queued the event and notified: a later event of this transaction needs no NOTIFY."""
        self.outbox._mark_notified(session)
