"""Handlers of the events the evidence service consumes (SPEC section 2): `dispute.received`
(the case the checker reads) and `deadline.scheduled` (its due time).

Each runs inside the consumer's transaction (with the inbox claim) and never commits. A deadline
that arrives before its dispute is parked (`Deferred`) and applied once the case is recorded.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.evidence import cases, models
from shared.contracts import DeadlineScheduledV1, DisputeReceivedV1, Envelope
from shared.kafka.handlers import handler_map


async def on_dispute_received(session: AsyncSession, event: Envelope[DisputeReceivedV1]) -> None:
    await cases.record_case(session, event)


async def on_deadline_scheduled(session: AsyncSession, event: Envelope[DeadlineScheduledV1]) -> None:
    await cases.record_deadline(session, event)


HANDLERS = handler_map(
    {DisputeReceivedV1: on_dispute_received, DeadlineScheduledV1: on_deadline_scheduled},
    parked=models.parked_events_table,
)
