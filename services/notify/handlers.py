"""Handlers of the events the notify service consumes (SPEC section 2), keyed by event class.

Each is `async def on_xs(session, events: Sequence[Envelope[XV1]], ctx: NotifyContext) -> None`
(a run of consecutive events of one type; a single event is a run of one), runs inside the
consumer's transaction (with the inbox claims) and never commits. Each records what the events
say of their cases and adds their notification rows per the sellers' preferences
(`notifying.handle_many`); the dispatcher sends them after the commit. None defers: an event that
arrives before its dispute's `dispute.received` still notifies (with the facts known so far), and
a new dispute's message waits for its `deadline.scheduled` in its row (a bounded wait), not parked.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import notifying
from services.notify.context import NotifyContext
from shared.contracts import (
    CaseSubmittedV1,
    DeadlineAlertedV1,
    DeadlineScheduledV1,
    DisputeReceivedV1,
    DisputeUpdatedV1,
    Envelope,
    EvidenceValidatedV1,
    VerdictReturnedV1,
)
from shared.kafka.handlers import handler_map


async def on_disputes_received(
    session: AsyncSession, events: Sequence[Envelope[DisputeReceivedV1]], ctx: NotifyContext
) -> None:
    await notifying.handle_many(session, ctx, events)


async def on_disputes_updated(
    session: AsyncSession, events: Sequence[Envelope[DisputeUpdatedV1]], ctx: NotifyContext
) -> None:
    await notifying.handle_many(session, ctx, events)


async def on_deadlines_scheduled(
    session: AsyncSession, events: Sequence[Envelope[DeadlineScheduledV1]], ctx: NotifyContext
) -> None:
    await notifying.handle_many(session, ctx, events)


async def on_evidence_validated(
    session: AsyncSession, events: Sequence[Envelope[EvidenceValidatedV1]], ctx: NotifyContext
) -> None:
    await notifying.handle_many(session, ctx, events)


async def on_deadlines_alerted(
    session: AsyncSession, events: Sequence[Envelope[DeadlineAlertedV1]], ctx: NotifyContext
) -> None:
    await notifying.handle_many(session, ctx, events)


async def on_cases_submitted(
    session: AsyncSession, events: Sequence[Envelope[CaseSubmittedV1]], ctx: NotifyContext
) -> None:
    await notifying.handle_many(session, ctx, events)


async def on_verdicts_returned(
    session: AsyncSession, events: Sequence[Envelope[VerdictReturnedV1]], ctx: NotifyContext
) -> None:
    await notifying.handle_many(session, ctx, events)


# Every type batched: a fetched run of one type is handled in a few statements (bench/notify.py);
# the same function serves a single event (a replay) as a batch of one. No parked=: none defers.
HANDLERS = handler_map(
    {},
    batched={
        DisputeReceivedV1: on_disputes_received,
        DisputeUpdatedV1: on_disputes_updated,
        DeadlineScheduledV1: on_deadlines_scheduled,
        EvidenceValidatedV1: on_evidence_validated,
        DeadlineAlertedV1: on_deadlines_alerted,
        CaseSubmittedV1: on_cases_submitted,
        VerdictReturnedV1: on_verdicts_returned,
    },
)
