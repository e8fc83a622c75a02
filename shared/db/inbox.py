"""Claiming consumed event ids in the handler's transaction (the idempotent inbox)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import BigInteger, Integer, Table, Text, Uuid, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
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
        t = self.table
        # Columns as arrays through unnest: five parameters whatever the batch size, where a
        # multi-row VALUES would compile and bind five per row.
        rows = select(
            literal(self.consumer).label("consumer"),
            func.unnest(bindparam("ids", [d.event_id for d in deliveries], ARRAY(Uuid))).label("event_id"),
            func.unnest(bindparam("topics", [d.topic for d in deliveries], ARRAY(Text))).label("topic"),
            func.unnest(bindparam("parts", [d.partition for d in deliveries], ARRAY(Integer))).label("partition"),
            func.unnest(bindparam("offsets", [d.offset for d in deliveries], ARRAY(BigInteger))).label("offset"),
        )
        stmt = (
            insert(t)
            .from_select(["consumer", "event_id", "topic", "partition", "offset"], rows)
            .on_conflict_do_nothing()
            .returning(t.c.event_id)
        )
        result = await session.execute(stmt)
        return set(result.scalars())
