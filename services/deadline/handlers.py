"""Handlers of the events the deadline service consumes, keyed by event class.

Each is `async def on_x(session, event: Envelope[XV1], ctx: DeadlineContext) -> None` (the
process's context, handed in by the consumer), runs inside the consumer's
transaction (with the inbox claim) and never commits. A fact about a dispute whose
`dispute.received` has not been seen yet raises `Deferred` and is parked until it is. An event
the clock refuses raises `RejectedEvent` and is dead-lettered at once with its code.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.deadline import models, scheduling
from services.deadline.context import DeadlineContext
from shared.contracts import (
    CaseSubmittedV1,
    DisputeChange,
    DisputeReceivedV1,
    DisputeUpdatedV1,
    Envelope,
    VerdictReturnedV1,
)
from shared.kafka.handlers import handler_map


async def on_disputes_received(
    session: AsyncSession, events: Sequence[Envelope[DisputeReceivedV1]], ctx: DeadlineContext
) -> None:
    """Batched: a fetched run of new disputes is scheduled in a few statements (bench/deadline.py)."""
    await scheduling.receive(session, ctx, [event.data for event in events])


async def on_dispute_updated(session: AsyncSession, event: Envelope[DisputeUpdatedV1], ctx: DeadlineContext) -> None:
    data = event.data
    if data.change is DisputeChange.accepted:
        await scheduling.end(session, data.dispute_id, "accepted")
    elif data.change is DisputeChange.closed:
        await scheduling.end(session, data.dispute_id, "closed")
    elif data.respond_by is not None:
        await scheduling.move_respond_by(session, ctx, data.dispute_id, data.respond_by)
    # Other fields (amount, reason) do not move a deadline: nothing to do.


async def on_case_submitted(session: AsyncSession, event: Envelope[CaseSubmittedV1], ctx: DeadlineContext) -> None:
    await scheduling.end(session, event.data.dispute_id, "submitted")


async def on_verdict_returned(session: AsyncSession, event: Envelope[VerdictReturnedV1], ctx: DeadlineContext) -> None:
    await scheduling.end(session, event.data.dispute_id, "decided")


HANDLERS = handler_map(
    {
        DisputeUpdatedV1: on_dispute_updated,
        CaseSubmittedV1: on_case_submitted,
        VerdictReturnedV1: on_verdict_returned,
    },
    parked=models.parked_events_table,
    batched={DisputeReceivedV1: on_disputes_received},
)
