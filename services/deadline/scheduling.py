"""Scheduling a dispute's deadline and reminders, and ending or moving them (one session, never committed).

Every change of one dispute happens with its deadline row locked (the INSERT of a new row, or
SELECT ... FOR UPDATE), so its `deadline.scheduled` and `deadline.alerted` events reach the
outbox in order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.deadline.calendar_cache import current_calendar, skipped_json
from services.deadline.context import DeadlineContext
from services.deadline.domain import BusinessCalendar, Deadline, DeadlineError, compute_deadline
from services.deadline.errors import RejectedEvent
from services.deadline.repository import DeadlineRepository
from shared.contracts import DeadlineScheduledV1, DisputeReceivedV1, new_event
from shared.kafka.handlers import Deferred

log = structlog.get_logger(__name__)

SOURCE = "deadline"
EVENT_NAMESPACE = uuid.UUID("5b0c7f5e-4d1e-4f43-9a57-0d3ad1e5e7a1")
OPEN_STATES = ("open", "missed")


def event_id(dispute_id: str, *parts: object) -> uuid.UUID:
    """Deterministic ids: the same fact written twice is the same event (inboxes drop the copy)."""
    return uuid.uuid5(EVENT_NAMESPACE, ":".join([dispute_id, *map(str, parts)]))


def compute(
    ctx: DeadlineContext,
    calendar: BusinessCalendar,
    notified_at: datetime,
    kind: str,
    respond_by: date | datetime | None,
) -> Deadline:
    """The clock, its refusals turned into dead letters (permanent: not the event's to retry)."""
    try:
        return compute_deadline(
            notified_at, kind, respond_by=respond_by, calendar=calendar, business_days=ctx.settings.business_days
        )
    except DeadlineError as exc:
        raise RejectedEvent(exc) from exc


async def receive(session: AsyncSession, ctx: DeadlineContext, batch: Sequence[DisputeReceivedV1]) -> None:
    """New disputes: deadlines, reminders (past offsets skipped) and `deadline.scheduled`, a batch at a time.

    The clock runs per dispute; the rows go in a few statements for the whole batch (deadlines,
    reminders, outbox). A dispute that has a deadline already (a repeat under another event id)
    changes nothing: the INSERT skips it and nothing else of it is written. Each new deadline row
    stays locked by its INSERT until commit, so its events are in order.
    """
    calendar, names = await current_calendar(session, ctx)
    firsts = {data.dispute_id: data for data in reversed(batch)}  # the first of a dispute wins
    computed = {
        data.dispute_id: (data, compute(ctx, calendar, data.notified_at, data.kind.value, data.respond_by))
        for data in batch
        if firsts[data.dispute_id] is data
    }
    repo = DeadlineRepository(session)
    inserted = await repo.insert_deadlines(
        [
            {
                "dispute_id": data.dispute_id,
                "seller_id": data.seller_id,
                "kind": data.kind.value,
                "notified_at": deadline.notified_at,
                "respond_by": data.respond_by.isoformat() if data.respond_by is not None else None,
                **deadline_values(deadline, names),
                "state": "open",
                "version": 1,
            }
            for data, deadline in computed.values()
        ]
    )
    if len(inserted) < len(computed):
        log.info("deadline_exists", disputes=sorted(set(computed) - inserted))  # one deadline per dispute
    await schedule_many(
        repo, ctx, [(d.dispute_id, d.seller_id, dl, 1) for d, dl in computed.values() if d.dispute_id in inserted]
    )


def deadline_values(deadline: Deadline, names: dict[date, tuple[str, str]]) -> dict[str, Any]:
    return {
        "due_at": deadline.due_at,
        "rule": deadline.rule,
        "business_days": deadline.business_days,
        "skipped": skipped_json(deadline.skipped, names),
    }


async def schedule(
    repo: DeadlineRepository, ctx: DeadlineContext, dispute_id: str, seller_id: str, deadline: Deadline, *, version: int
) -> None:
    await schedule_many(repo, ctx, [(dispute_id, seller_id, deadline, version)])


async def schedule_many(
    repo: DeadlineRepository, ctx: DeadlineContext, items: Sequence[tuple[str, str, Deadline, int]]
) -> None:
    """Reminders of each (dispute, seller, deadline, version) (offsets already past: `skipped`) and
    its `deadline.scheduled`: one INSERT for all the reminders, one for all the events."""
    if not items:
        return
    now = ctx.clock.now()
    minutes = [int(offset.total_seconds() // 60) for offset in ctx.offsets]  # whole minutes (settings)
    deltas = [(m, timedelta(minutes=m)) for m in minutes]  # built once per batch, not per dispute
    events, first = [], None
    for dispute_id, seller_id, deadline, version in items:
        due_at = deadline.due_at
        pending = [(m, due_at - delta) for m, delta in deltas if due_at - delta >= now]  # the INSERT's test
        data = DeadlineScheduledV1(
            dispute_id=dispute_id,
            due_at=due_at,
            business_days=deadline.business_days,
            rule=deadline.rule,
            reminder_offsets_minutes=tuple([m for m, _ in pending]),
        )
        eid = event_id(dispute_id, "scheduled", version)
        events.append(new_event(data, source=SOURCE, seller_id=seller_id, event_id=eid, time=now))
        soonest = min([at for _, at in pending] + [due_at])
        first = soonest if first is None else min(first, soonest)
    await repo.insert_reminders([(d, v, dl.due_at) for d, _, dl, v in items], minutes, now)
    await repo.add_events(*events)
    if first is not None:
        ctx.wakeup.after_commit(repo.session, first)


async def reschedule(
    repo: DeadlineRepository,
    ctx: DeadlineContext,
    row: Row[Any],
    deadline: Deadline,
    names: dict[date, tuple[str, str]],
    **changes: Any,
) -> bool:
    """Move a locked, open deadline: pending reminders cancelled, a new version scheduled and announced.

    False (and nothing written but `changes`) when the due time did not move.
    """
    if deadline.due_at == row.due_at:
        await repo.update_deadline(row.dispute_id, {**deadline_values(deadline, names), **changes})
        return False
    version = row.version + 1
    await repo.cancel_pending(row.dispute_id)
    values = {**deadline_values(deadline, names), **changes, "version": version}
    if row.state == "open" or deadline.due_at > ctx.clock.now():
        values |= {"state": "open", "missed_at": None}  # a missed case given a later date is open again
    # else: missed, and still past due: it stays missed (its `missed` alert is not repeated)
    await repo.update_deadline(row.dispute_id, values)
    await schedule(repo, ctx, row.dispute_id, row.seller_id, deadline, version=version)
    return True


async def move_respond_by(
    session: AsyncSession, ctx: DeadlineContext, dispute_id: str, respond_by: date | datetime
) -> None:
    """`dispute.updated` with a new respond_by: recompute from the stored notice, reschedule if it moved."""
    repo = DeadlineRepository(session)
    row = await locked_deadline(repo, dispute_id)
    if row.state not in OPEN_STATES:
        log.info("respond_by_ignored_case_ended", dispute_id=dispute_id, state=row.state)
        return
    calendar, names = await current_calendar(session, ctx)
    deadline = compute(ctx, calendar, row.notified_at, row.kind, respond_by)
    await reschedule(repo, ctx, row, deadline, names, respond_by=respond_by.isoformat())


# What each ending fact does to a deadline's state; pending reminders are cancelled in every case.
ENDINGS = {
    "submitted": ("open", "missed"),
    "accepted": ("open", "missed", "submitted"),
    "closed": ("open", "missed", "submitted"),
    "decided": ("open", "missed", "submitted"),
}


async def end(session: AsyncSession, dispute_id: str, state: str) -> None:
    """The case was submitted, accepted, closed or decided: nothing pending fires any more."""
    repo = DeadlineRepository(session)
    row = await locked_deadline(repo, dispute_id)
    cancelled = await repo.cancel_pending(dispute_id)
    if row.state in ENDINGS[state]:
        await repo.update_deadline(dispute_id, {"state": state})
    log.info("deadline_ended", dispute_id=dispute_id, state=state, was=row.state, cancelled=cancelled)


async def locked_deadline(repo: DeadlineRepository, dispute_id: str) -> Row[Any]:
    row = await repo.deadline(dispute_id, lock=True)
    if row is None:
        raise Deferred("no deadline for this dispute yet (dispute.received not seen)")
    return row
