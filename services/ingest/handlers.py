"""Handlers of the events the ingest service consumes: every topic, to keep the case read model.

Each is `async def on_x(session, event, ctx: IngestContext)` (the process's context, handed in
by the consumer) and runs inside the consumer's transaction (with the inbox claim) and never commits. A fact
about a case ingest does not have yet is parked (`Deferred`) until the case exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import cases, models
from services.ingest.context import IngestContext
from services.ingest.repository import IngestRepository
from shared.contracts import DisputeReceivedV1, Envelope
from shared.contracts.events import EVENT_DATA_TYPES
from shared.kafka.handlers import handler_map


async def on_case_fact(session: AsyncSession, event: Envelope[Any], ctx: IngestContext) -> None:
    """Any fact of a dispute: applied to its case (status forward only) and added to its timeline."""
    await cases.record_event(session, event)


async def on_disputes_received(
    session: AsyncSession, events: Sequence[Envelope[DisputeReceivedV1]], ctx: IngestContext
) -> None:
    """Batched: nearly every `dispute.received` is one ingest wrote itself (its case and timeline
    row exist already), so a fetched run is checked in one query and only the others are recorded.
    `record_event` never defers a `dispute.received` (a case it lacks is rebuilt from the fact)."""
    known = await IngestRepository(session).known_events([event.id for event in events])
    for event in events:
        if event.id not in known:
            await cases.record_event(session, event)


HANDLERS = handler_map(
    {cls: on_case_fact for cls in EVENT_DATA_TYPES if cls is not DisputeReceivedV1},
    parked=models.parked_events_table,
    batched={DisputeReceivedV1: on_disputes_received},
)
