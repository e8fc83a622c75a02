"""Handlers of the events the evidence service consumes (SPEC section 2): `dispute.received`
(the case the checker reads), `dispute.updated` (amended facts, or the case accepted or closed),
`deadline.scheduled` (its due time) and `case.submitted` (after which an item can no longer be
deleted: SPEC section 5, a topic added to the section 2 table).

Each is `async def on_x(session, event, ctx: EvidenceContext)` (the process's context, handed in
by the consumer) and runs inside the consumer's transaction (with the inbox claim) and never commits. An update,
deadline or submission that arrives before its dispute is parked (`Deferred`) and applied once
the case is recorded.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.evidence import cases, models
from services.evidence.context import EvidenceContext
from shared.contracts import CaseSubmittedV1, DeadlineScheduledV1, DisputeReceivedV1, DisputeUpdatedV1, Envelope
from shared.kafka.handlers import handler_map


async def on_dispute_received(session: AsyncSession, event: Envelope[DisputeReceivedV1], ctx: EvidenceContext) -> None:
    await cases.record_case(session, event)


async def on_dispute_updated(session: AsyncSession, event: Envelope[DisputeUpdatedV1], ctx: EvidenceContext) -> None:
    await cases.record_update(session, event, now=ctx.clock.now(), wakeup=ctx.wakeup)


async def on_case_submitted(session: AsyncSession, event: Envelope[CaseSubmittedV1], ctx: EvidenceContext) -> None:
    await cases.record_submission(session, event)


async def on_deadline_scheduled(
    session: AsyncSession, event: Envelope[DeadlineScheduledV1], ctx: EvidenceContext
) -> None:
    await cases.record_deadline(session, event)


HANDLERS = handler_map(
    {
        DisputeReceivedV1: on_dispute_received,
        DisputeUpdatedV1: on_dispute_updated,
        DeadlineScheduledV1: on_deadline_scheduled,
        CaseSubmittedV1: on_case_submitted,
    },
    parked=models.parked_events_table,
)
