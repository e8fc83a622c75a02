"""The timer loop: fires due reminders and missed deadlines, each exactly once, from durable rows.

One `tick` is one transaction: due reminders (and the open deadlines past due) are claimed with
`FOR UPDATE SKIP LOCKED`, marked, and their `deadline.alerted` events added to the outbox, all
committed together, so a replica that dies mid-tick leaves the rows pending for the next one and
two replicas never claim the same row. Between ticks the loop sleeps until the next due row
(`SELECT least(min(fire_at), min(due_at))`), at most `scheduler_max_sleep_s`, and wakes early when a
handler of this process commits something due sooner. A database outage is logged and waited out.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.deadline.context import DeadlineContext, context_of
from services.deadline.repository import DeadlineRepository, ReminderKey
from services.deadline.scheduling import SOURCE, event_id
from shared.contracts import DeadlineAlertedV1, new_event
from shared.db.session import session_scope
from shared.runtime import ServiceRuntime

log = structlog.get_logger(__name__)

_HELD_ELSEWHERE_S = 0.05


@dataclass(frozen=True)
class Tick:
    fired: int = 0
    skipped: int = 0
    missed: int = 0
    full: bool = False  # a claim came back full: more may be due right now


async def tick(sessions: async_sessionmaker[AsyncSession], ctx: DeadlineContext) -> Tick:
    """Fire what is due at `ctx.clock.now()`, in one transaction. Callable from tests."""
    now = ctx.clock.now()
    limit = ctx.settings.scheduler_batch
    async with session_scope(sessions) as session:
        repo = DeadlineRepository(session)
        due = await repo.claim_due_reminders(now, limit)
        fire, skip = _latest_per_dispute(due, now)
        await repo.set_reminder_states([_key(r) for r in fire], "fired", now)
        await repo.set_reminder_states([_key(r) for r in skip], "skipped", None)
        missed = await repo.claim_missed(now, limit)
        await repo.mark_missed([r.dispute_id for r in missed], now)
        await repo.add_events(*[_reminder(r, now) for r in fire], *[_missed(r, now) for r in missed])
    if fire or missed:
        log.info("deadline_alerts_fired", reminders=len(fire), skipped=len(skip), missed=len(missed))
    disputes = len({row.dispute_id for row in due})
    return Tick(len(fire), len(skip), len(missed), full=disputes >= limit or len(missed) >= limit)


def _latest_per_dispute(due: list[Row[Any]], now: datetime) -> tuple[list[Row[Any]], list[Row[Any]]]:
    """Of a dispute's reminders due together (after an outage), only the latest fires; none once past due_at.

    Late is better than never for the most urgent one, but a burst of stale ones helps nobody.
    """
    by_dispute: dict[str, list[Row[Any]]] = defaultdict(list)
    for row in due:
        by_dispute[row.dispute_id].append(row)
    fire, skip = [], []
    for rows in by_dispute.values():
        rows.sort(key=lambda r: r.fire_at)
        latest = rows[-1]
        skip.extend(rows[:-1])
        (fire if latest.due_at > now else skip).append(latest)
    return fire, skip


def _key(row: Row[Any]) -> ReminderKey:
    return (row.dispute_id, row.version, row.offset_minutes)


def _hours_left(due_at: datetime, now: datetime) -> float:
    return round((due_at - now).total_seconds() / 3600, 2)


def _reminder(row: Row[Any], now: datetime) -> Any:
    data = DeadlineAlertedV1(
        dispute_id=row.dispute_id,
        alert="reminder",
        due_at=row.due_at,
        hours_left=_hours_left(row.due_at, now),
        offset_minutes=row.offset_minutes,
    )
    eid = event_id(row.dispute_id, "reminder", row.version, row.offset_minutes)
    return new_event(data, source=SOURCE, seller_id=row.seller_id, event_id=eid, time=now)


def _missed(row: Row[Any], now: datetime) -> Any:
    data = DeadlineAlertedV1(
        dispute_id=row.dispute_id, alert="missed", due_at=row.due_at, hours_left=_hours_left(row.due_at, now)
    )
    eid = event_id(row.dispute_id, "missed", row.version)
    return new_event(data, source=SOURCE, seller_id=row.seller_id, event_id=eid, time=now)


async def next_due(sessions: async_sessionmaker[AsyncSession]) -> datetime | None:
    async with session_scope(sessions) as session:
        return await DeadlineRepository(session).next_due()


async def run(sessions: async_sessionmaker[AsyncSession], ctx: DeadlineContext) -> None:
    """Tick, sleep until the next due row (capped; woken early by a handler), forever."""
    s = ctx.settings
    failures = 0
    while True:
        now = ctx.clock.now()
        try:
            done = await tick(sessions, ctx)
            if done.full:
                continue  # more is due right now
            upcoming = await next_due(sessions)
            failures = 0
        except Exception as exc:  # the database away (or anything else): never die, back off
            failures += 1
            backoff = min(0.2 * 2**failures, s.scheduler_backoff_max_s) * random.uniform(0.5, 1.0)
            log.warning("scheduler_tick_failed", error=repr(exc), retry_in_s=round(backoff, 2), failures=failures)
            await ctx.wakeup.wait(backoff, now)
            continue
        now = ctx.clock.now()
        wait = s.scheduler_max_sleep_s if upcoming is None else (upcoming - now).total_seconds()
        wait = min(max(wait, 0.0), s.scheduler_max_sleep_s)
        if wait == 0 and not (done.fired or done.missed or done.skipped):
            wait = _HELD_ELSEWHERE_S  # due rows another transaction holds (SKIP LOCKED): do not spin
        if wait > 0:
            await ctx.wakeup.wait(wait, now + timedelta(seconds=wait))


async def scheduler(runtime: ServiceRuntime) -> None:
    """The service's background worker (ServiceDefinition.workers): the loop on the runtime's database."""
    async with runtime.sessions() as session:  # no connection: only to find this runtime's context
        ctx = context_of(session)
    await run(runtime.sessions, ctx)
