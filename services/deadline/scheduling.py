"""Scheduling a dispute's deadline and reminders, and ending or moving them (one session, never committed).

Every change of one dispute happens with its deadline row locked (the INSERT of a new row, or
SELECT ... FOR UPDATE), so its `deadline.scheduled` and `deadline.alerted` events reach the
outbox in order.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.deadline.calendar import current_calendar, skipped_json
from services.deadline.context import DeadlineContext, context_of
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


async def receive(session: AsyncSession, data: DisputeReceivedV1) -> None:
    """A new dispute: its deadline, its reminders (past offsets skipped) and `deadline.scheduled`."""
    ctx = context_of(session)
    calendar, names = await current_calendar(session)
    deadline = compute(ctx, calendar, data.notified_at, data.kind.value, data.respond_by)
    repo = DeadlineRepository(session)
    values = {
        "dispute_id": data.dispute_id,
        "seller_id": data.seller_id,
        "kind": data.kind.value,
        "notified_at": deadline.notified_at,
        "respond_by": data.respond_by.isoformat() if data.respond_by is not None else None,
        **deadline_values(deadline, names),
        "state": "open",
        "version": 1,
    }
    if not await repo.insert_deadline(values):  # the new row is locked until commit
        log.info("deadline_exists", dispute_id=data.dispute_id)  # one deadline per dispute: a repeat changes nothing
        return
    await schedule(repo, ctx, data.dispute_id, data.seller_id, deadline, version=1)


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
    """Reminders of this deadline version (offsets already past: `skipped`) and `deadline.scheduled`."""
    now = ctx.clock.now()
    rows = reminder_rows(dispute_id, version, deadline.due_at, ctx.settings.offsets, now)
    await repo.insert_reminders(rows)
    pending = [row["offset_minutes"] for row in rows if row["state"] == "pending"]
    data = DeadlineScheduledV1(
        dispute_id=dispute_id,
        due_at=deadline.due_at,
        business_days=deadline.business_days,
        rule=deadline.rule,
        reminder_offsets_minutes=tuple(pending),
    )
    await repo.add_events(
        new_event(
            data, source=SOURCE, seller_id=seller_id, event_id=event_id(dispute_id, "scheduled", version), time=now
        )
    )
    first = min([row["fire_at"] for row in rows if row["state"] == "pending"] + [deadline.due_at])
    ctx.wakeup.after_commit(repo.session, first)


def reminder_rows(
    dispute_id: str, version: int, due_at: datetime, offsets: tuple[timedelta, ...], now: datetime
) -> list[dict[str, Any]]:
    """One row per configured offset: `pending` when still ahead, `skipped` when already past (never fired late)."""
    rows = []
    for offset in offsets:
        fire_at = due_at - offset
        rows.append(
            {
                "dispute_id": dispute_id,
                "version": version,
                "offset_minutes": int(offset.total_seconds() // 60),
                "fire_at": fire_at,
                "state": "pending" if fire_at >= now else "skipped",
                "fired_at": None,
            }
        )
    return rows


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
    values = {**deadline_values(deadline, names), **changes, "state": "open", "version": version, "missed_at": None}
    await repo.update_deadline(row.dispute_id, values)
    await schedule(repo, ctx, row.dispute_id, row.seller_id, deadline, version=version)
    return True


async def move_respond_by(session: AsyncSession, dispute_id: str, respond_by: date | datetime) -> None:
    """`dispute.updated` with a new respond_by: recompute from the stored notice, reschedule if it moved."""
    ctx = context_of(session)
    repo = DeadlineRepository(session)
    row = await locked_deadline(repo, dispute_id)
    if row.state not in OPEN_STATES:
        log.info("respond_by_ignored_case_ended", dispute_id=dispute_id, state=row.state)
        return
    calendar, names = await current_calendar(session)
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
