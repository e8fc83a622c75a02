"""Handlers of the events the ingest service consumes: every topic, to keep the case read model.

Each runs inside the consumer's transaction (with the inbox claim) and never commits. A fact
about a case ingest does not have yet is parked (`Deferred`) until the case exists.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import cases, models
from shared.contracts import EVENT_DATA_TYPES, Envelope
from shared.kafka.handlers import handler_map


async def on_case_fact(session: AsyncSession, event: Envelope) -> None:
    """Any fact of a dispute: applied to its case (status forward only) and added to its timeline."""
    await cases.record_event(session, event)


HANDLERS = handler_map({cls: on_case_fact for cls in EVENT_DATA_TYPES}, parked=models.parked_events_table)
