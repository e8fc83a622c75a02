"""The timer loop: fires due reminders and missed deadlines, each exactly once, from durable rows.

One `tick` is one transaction: due reminders (and the open deadlines past due) are claimed with
`FOR UPDATE SKIP LOCKED`, marked, and their `deadline.alerted` events added to the outbox, all
committed together, so a replica that dies mid-tick leaves the rows pending for the next one and
two replicas never claim the same row. Between ticks the loop sleeps until the next due row
(`SELECT least(min(fire_at), min(due_at))`), at most `scheduler_max_sleep_s`, and wakes early when a
handler of this process commits something due sooner. A database outage is logged and waited out.
The loop is the shared one (`shared/worker.py`, `WorkerLoop`); `tick` is its step.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.deadline.context import DeadlineContext
from services.deadline.metrics import offset_label
from services.deadline.repository import DeadlineRepository, ReminderKey
from services.deadline.scheduling import SOURCE, event_id
from shared.backoff import Backoff
from shared.contracts import DeadlineAlertedV1, Envelope, new_event
from shared.db.session import session_scope
from shared.metrics import count_after_commit
from shared.runtime import ServiceRuntime
from shared.worker import WorkerLoop

log = structlog.get_logger(__name__)

_HELD_ELSEWHERE_S = 0.05
_BACKOFF_BASE_S = 0.2


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
        _count(session, ctx, fire, len(skip), len(missed))
    if fire or missed:
        log.info("deadline_alerts_fired", reminders=len(fire), skipped=len(skip), missed=len(missed))
    disputes = len({row.dispute_id for row in due})
    return Tick(len(fire), len(skip), len(missed), full=disputes >= limit or len(missed) >= limit)


def _count(session: AsyncSession, ctx: DeadlineContext, fired: list[Row[Any]], skipped: int, missed: int) -> None:
    """The tick's alerts in the service's metrics, once its transaction commits."""
    m = ctx.metrics
    for offset, n in Counter(offset_label(r.offset_minutes) for r in fired).items():
        count_after_commit(session, m.reminders_fired.labels(offset), n)
    count_after_commit(session, m.reminders_skipped, skipped)
    count_after_commit(session, m.deadlines_missed, missed)


def _latest_per_dispute(due: list[Row[Any]], now: datetime) -> tuple[list[Row[Any]], list[Row[Any]]]:
    """Of a dispute's reminders due together (after an outage), only the latest fires; none once past due_at.

    Late is better than never for the most urgent one, but a burst of stale ones helps nobody.
    """
    by_dispute: dict[str, list[Row[Any]]] = defaultdict(list)
    for row in due:
        by_dispute[row.dispute_id].append(row)
    fire: list[Row[Any]] = []
    skip: list[Row[Any]] = []
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


def _reminder(row: Row[Any], now: datetime) -> Envelope[Any]:
    data = DeadlineAlertedV1(
        dispute_id=row.dispute_id,
        alert="reminder",
        due_at=row.due_at,
        hours_left=_hours_left(row.due_at, now),
        offset_minutes=row.offset_minutes,
    )
    eid = event_id(row.dispute_id, "reminder", row.version, row.offset_minutes)
    return new_event(data, source=SOURCE, seller_id=row.seller_id, event_id=eid, time=now)


def _missed(row: Row[Any], now: datetime) -> Envelope[Any]:
    data = DeadlineAlertedV1(
        dispute_id=row.dispute_id, alert="missed", due_at=row.due_at, hours_left=_hours_left(row.due_at, now)
    )
    eid = event_id(row.dispute_id, "missed", row.version)
    return new_event(data, source=SOURCE, seller_id=row.seller_id, event_id=eid, time=now)


async def next_due(sessions: async_sessionmaker[AsyncSession]) -> datetime | None:
    async with session_scope(sessions) as session:
        return await DeadlineRepository(session).next_due()


def loop(sessions: async_sessionmaker[AsyncSession], ctx: DeadlineContext) -> WorkerLoop:
    """The shared worker loop around `tick`: sleeps until the next due row (capped), woken early by a handler."""
    s = ctx.settings

    async def step() -> float | None:
        done = await tick(sessions, ctx)
        if done.full:
            return 0.0  # more is due right now
        upcoming = await next_due(sessions)
        if upcoming is None:
            return None
        wait = max((upcoming - ctx.clock.now()).total_seconds(), 0.0)
        if wait == 0 and not (done.fired or done.missed or done.skipped):
            return _HELD_ELSEWHERE_S  # due rows another transaction holds (SKIP LOCKED): do not spin
        return wait

    return WorkerLoop(
        "deadline-scheduler",
        step,
        backoff=Backoff(base_s=_BACKOFF_BASE_S, cap_s=max(s.scheduler_backoff_max_s, _BACKOFF_BASE_S)),
        max_sleep_s=s.scheduler_max_sleep_s,
        wakeup=ctx.wakeup,
        clock=ctx.clock.now,
    )


async def run(sessions: async_sessionmaker[AsyncSession], ctx: DeadlineContext) -> None:
    """Tick, sleep until the next due row (capped; woken early by a handler), until cancelled."""
    await loop(sessions, ctx).run()


async def scheduler(runtime: ServiceRuntime[DeadlineContext]) -> None:
    """The service's background worker (ServiceDefinition.workers): the loop on the runtime's database."""
    await run(runtime.sessions, runtime.context)
