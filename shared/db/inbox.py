"""Claiming consumed event ids in the handler's transaction (the idempotent inbox)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession


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

    async def claim(self, session: AsyncSession, deliveries: list[Delivery]) -> set[uuid.UUID]:
        """Record `deliveries`; returns the ids seen for the first time (the ones to handle).

        One statement for the whole batch. An id already present (a redelivery) is skipped,
        and if the transaction rolls back the claims vanish with the handler's changes.
        """
        if not deliveries:
            return set()
        rows = [
            {
                "consumer": self.consumer,
                "event_id": d.event_id,
                "topic": d.topic,
                "partition": d.partition,
                "offset": d.offset,
            }
            for d in deliveries
        ]
        stmt = insert(self.table).values(rows).on_conflict_do_nothing().returning(self.table.c.event_id)
        result = await session.execute(stmt)
        return set(result.scalars())
