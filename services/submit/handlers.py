"""Handlers of the events the submit service consumes (issue 18, point 1: per case readiness).

Each is `async def on_x(session, event: Envelope[XV1], ctx: SubmitContext) -> None` (the
process's context, handed in by the consumer), runs inside the consumer's transaction (with the
inbox claim) and never commits; an update, report or deadline of a dispute not received yet raises
`Deferred` and is parked until `dispute.received` is recorded.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.submit import models, readiness
from services.submit.context import SubmitContext
from shared.contracts import DeadlineScheduledV1, DisputeReceivedV1, DisputeUpdatedV1, Envelope, EvidenceValidatedV1
from shared.kafka.handlers import handler_map


async def on_dispute_received(session: AsyncSession, event: Envelope[DisputeReceivedV1], ctx: SubmitContext) -> None:
    await readiness.record_received(session, event)


async def on_dispute_updated(session: AsyncSession, event: Envelope[DisputeUpdatedV1], ctx: SubmitContext) -> None:
    await readiness.record_updated(session, event)


async def on_evidence_validated(
    session: AsyncSession, event: Envelope[EvidenceValidatedV1], ctx: SubmitContext
) -> None:
    await readiness.record_validated(session, event)


async def on_deadline_scheduled(
    session: AsyncSession, event: Envelope[DeadlineScheduledV1], ctx: SubmitContext
) -> None:
    await readiness.record_deadline(session, event)


HANDLERS = handler_map(
    {
        DisputeReceivedV1: on_dispute_received,
        DisputeUpdatedV1: on_dispute_updated,
        EvidenceValidatedV1: on_evidence_validated,
        DeadlineScheduledV1: on_deadline_scheduled,
    },
    parked=models.parked_events_table,
)
