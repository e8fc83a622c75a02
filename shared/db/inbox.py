"""Claiming consumed event ids in the handler's transaction (the idempotent inbox)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.backbone import qualified_name
from shared.db.session import driver_connection


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where one event came from: enough to find it again in Kafka."""

    event_id: uuid.UUID
    topic: str
    partition: int
    offset: int


class Inbox:
    def __init__(self, table: Table, consumer: str) -> None:
        self.table = table
        self.consumer = consumer
        # Plain SQL on the session's asyncpg connection, prepared once by asyncpg: the consumer
        # claims once per batch, often a batch of one, and SQLAlchemy's execution of a statement
        # cost more CPU than its round trip (bench/RESULTS.md).
        self._claim_sql = (
            f'INSERT INTO {qualified_name(table)} (consumer, event_id, topic, partition, "offset") '
            "SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::integer[], $5::bigint[]) "
            "ON CONFLICT DO NOTHING RETURNING event_id"
        )

    async def claim(self, session: AsyncSession, deliveries: list[Delivery]) -> set[uuid.UUID]:
        """Record `deliveries`; returns the ids seen for the first time (the ones to handle).

        One statement for the whole batch, its columns as arrays (five parameters whatever the
        batch size). An id already present (a redelivery) is skipped, and if the transaction
        rolls back the claims vanish with the handler's changes.
        """
        if not deliveries:
            return set()
        connection = await driver_connection(session)
        rows = await connection.fetch(
            self._claim_sql,
            self.consumer,
            [d.event_id for d in deliveries],
            [d.topic for d in deliveries],
            [d.partition for d in deliveries],
            [d.offset for d in deliveries],
        )
        return {row[0] for row in rows}
