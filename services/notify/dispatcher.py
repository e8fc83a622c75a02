"""The dispatcher: sends due notifications outside any database transaction, each attempt recorded.

One `dispatch` pass, a step of the shared worker loop (`shared/worker.py`):
1. claim: in a short transaction, up to `dispatch_batch` due rows are taken with `FOR UPDATE
   SKIP LOCKED` (replicas share the rows) and put under a lease (`lease_id`, and `due_at` moved to
   the lease's end); the preferences and case facts they need are read; commit.
2. send: each row is rendered in the seller's language and sent through its channel module,
   `dispatch_concurrency` at a time, with no transaction open. A channel never raises.
3. record: in a second transaction each attempt is inserted and the row's next state written,
   only if its lease is still ours: `delivered`; `retrying` at the schedule's next time
   (`retry.py`, Retry-After honoured); `dead` when the schedule is spent; a 410 disables the
   channel (in the preferences, with its other waiting rows) and tells the seller by its other
   channels.
A dispatcher killed between 1 and 3 leaves rows whose lease ends: they are due again and sent
again, with the same `webhook-id` (the row's id), so the receiver can drop the repeat.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.notify import notifying, stored
from services.notify.channels import channel_for
from services.notify.channels.base import DeliveryResult, Notification
from services.notify.context import NotifyContext
from services.notify.errors import TemplateVariableMissing
from services.notify.render import CaseFacts, Message, Money
from services.notify.repository import RECORDED, NotifyRepository
from services.notify.retry import Decision, Outcome
from shared.backoff import Backoff
from shared.contracts import EVENT_DATA_TYPES
from shared.db.session import session_scope
from shared.runtime import ServiceRuntime
from shared.worker import WorkerLoop

log = structlog.get_logger(__name__)

_HELD_ELSEWHERE_S = 0.05
_BACKOFF_BASE_S = 0.2
_COUNTS_EVERY_S = 5.0
_DATA_TYPES = {cls.event_type: cls for cls in EVENT_DATA_TYPES}


@dataclass(frozen=True)
class Pass:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    full: bool = False


@dataclass
class _Job:
    row: Row[Any]
    prefs: stored.Stored | None
    case: CaseFacts
    digest: list[CaseFacts] = field(default_factory=list)
    result: DeliveryResult | None = None
    final: tuple[str, str] | None = None  # (status, error) decided without sending


async def dispatch(sessions: async_sessionmaker[AsyncSession], ctx: NotifyContext) -> Pass:
    """One pass at `ctx.clock.now()`: claim, send outside a transaction, record. Callable from tests."""
    jobs, lease_id = await claim(sessions, ctx)
    if not jobs:
        return Pass()
    await send(ctx, jobs)
    delivered, failed = await record(sessions, ctx, jobs, lease_id)
    return Pass(len(jobs), delivered, failed, full=len(jobs) >= ctx.settings.dispatch_batch)


async def claim(sessions: async_sessionmaker[AsyncSession], ctx: NotifyContext) -> tuple[list[_Job], uuid.UUID]:
    now = ctx.clock.now()
    lease_id = uuid.uuid4()
    s = ctx.settings
    async with session_scope(sessions) as session:
        repo = NotifyRepository(session)
        rows = await repo.claim_due(now, now + timedelta(seconds=s.dispatch_lease_s), lease_id, s.dispatch_batch)
        if not rows:
            return [], lease_id
        raw_prefs = await repo.preferences_of([r.seller_id for r in rows])
        digests: dict[tuple[str, str], list[str]] = {}
        for row in rows:
            if row.event_type == notifying.DIGEST:
                key = (row.seller_id, row.data["day"])
                if key not in digests:
                    digests[key] = await repo.digest_disputes(row.seller_id, datetime.fromisoformat(key[1]).date())
        wanted = [r.dispute_id for r in rows if r.dispute_id] + [d for ids in digests.values() for d in ids]
        cases = await repo.cases(wanted)
    prefs = {seller: stored.load(raw, ctx.secret_box) for seller, raw in raw_prefs.items()}
    jobs = []
    for row in rows:
        job = _Job(row, prefs.get(row.seller_id), _facts(cases.get(row.dispute_id), row.dispute_id or ""))
        if row.event_type == notifying.DIGEST:
            ids = digests[(row.seller_id, row.data["day"])]
            job.digest = [_facts(cases.get(d), d) for d in ids]
        jobs.append(job)
    return jobs, lease_id


def _facts(row: Row[Any] | None, dispute_id: str) -> CaseFacts:
    if row is None:
        return CaseFacts(dispute_id=dispute_id)
    amount = None if row.amount_value is None else Money(row.amount_value, row.amount_currency)
    return CaseFacts(
        dispute_id=row.dispute_id,
        order_id=row.order_id,
        amount=amount,
        reason_code=row.reason_code,
        reason_text=row.reason_text,
        due_at=row.due_at,
    )


async def send(ctx: NotifyContext, jobs: Sequence[_Job]) -> None:
    """Every job's attempt, `dispatch_concurrency` at a time, no transaction open."""
    limit = asyncio.Semaphore(ctx.settings.dispatch_concurrency)

    async def one(job: _Job) -> None:
        async with limit:
            await _send_one(ctx, job)

    await asyncio.gather(*(one(job) for job in jobs))


async def _send_one(ctx: NotifyContext, job: _Job) -> None:
    row = job.row
    prefs = job.prefs
    config = None if prefs is None else prefs.channel(row.channel_key)
    if prefs is None or config is None:
        job.final = ("dead", "channel_removed")  # the seller removed the channel (or every preference)
        return
    if row.channel_key in prefs.disabled:
        job.final = ("disabled", "channel_disabled")
        return
    if row.channel_key in prefs.unreadable:
        job.final = ("dead", "secret_unreadable")  # no configured DD_NOTIFY_SECRET_KEY opens it
        return
    started = time.perf_counter()
    try:
        message = _render(ctx, job, prefs.document.language)
        channel = channel_for(config, ctx.channels)
    except (TemplateVariableMissing, ValueError) as exc:
        code = exc.code if isinstance(exc, TemplateVariableMissing) else "channel_unusable"
        job.result = DeliveryResult(False, None, (time.perf_counter() - started) * 1000, error=code)
        log.error("notification_not_rendered", notification_id=str(row.id), error=repr(exc))
        return
    notification = Notification(
        id=row.id,
        event_type=row.event_type,
        occurred_at=row.occurred_at,
        seller_id=row.seller_id,
        dispute_id=row.dispute_id or "",
        message=message,
        language=prefs.document.language,
    )
    job.result = await channel.send(notification)


def _render(ctx: NotifyContext, job: _Job, language: Any) -> Message:
    now = ctx.clock.now()
    row = job.row
    if row.event_type == notifying.DIGEST:
        day = datetime.fromisoformat(row.data["day"]).date()
        return ctx.renderer.render_digest(job.digest, language=language, now=now, day=day)
    data_type = _DATA_TYPES.get(row.event_type)
    data: Any = row.data if data_type is None else data_type.model_validate(row.data)  # datetimes back
    return ctx.renderer.render(row.event_type, data, job.case, language=language, now=now)


async def record(
    sessions: async_sessionmaker[AsyncSession], ctx: NotifyContext, jobs: Sequence[_Job], lease_id: uuid.UUID
) -> tuple[int, int]:
    now = ctx.clock.now()
    delivered = failed = 0
    woken: list[datetime] = []
    async with session_scope(sessions) as session:
        repo = NotifyRepository(session)
        attempts: list[dict[str, Any]] = []
        outcomes: list[dict[str, Any]] = []
        gone: list[_Job] = []
        for job in jobs:
            row = job.row
            if job.final is not None:
                status, error = job.final
                outcomes.append({"id": row.id, **_unchanged(row), "status": status, "last_error": error, "due_at": now})
                failed += 1
                continue
            result = job.result
            assert result is not None
            number = row.attempts + 1
            first = row.first_attempt_at or now
            decision = ctx.retry.decide(
                row.round_attempts + 1,
                status_code=result.status_code,
                first_attempt_at=first,
                now=now,
                retry_after_s=result.retry_after_s,
                delivered=result.delivered,
            )
            if result.gone and decision.outcome is not Outcome.delivered:
                decision = Decision(Outcome.gone)
            outcomes.append({"id": row.id, **_next_state(decision, result, number, row.round_attempts + 1, first, now)})
            attempts.append(
                {
                    "notification_id": row.id,
                    "attempt": number,
                    "at": now,
                    "status_code": result.status_code,
                    "latency_ms": result.latency_ms,
                    "error": result.error,
                    "outcome": decision.outcome.value,
                }
            )
            ctx.metrics.deliveries.labels(row.channel_type, decision.outcome.value).inc()
            ctx.metrics.attempt_latency.labels(row.channel_type).observe(result.latency_ms / 1000)
            if decision.outcome is Outcome.delivered:
                delivered += 1
            else:
                failed += 1
                log.info(
                    "notification_attempt_failed",
                    notification_id=str(row.id),
                    attempt=number,
                    outcome=decision.outcome.value,
                    error=result.error,
                )
            if decision.outcome is Outcome.gone:
                gone.append(job)
        recorded = await repo.record_many(lease_id, outcomes)
        for outcome in outcomes:
            if outcome["id"] not in recorded:
                log.warning("notification_lease_lost", notification_id=str(outcome["id"]))
        await repo.add_attempts(attempts)
        for job in gone:
            woken += await _disable(repo, ctx, job, now)
        if woken:
            ctx.wakeup.after_commit(session, at=min(woken))
    return delivered, failed


def _unchanged(row: Row[Any]) -> dict[str, Any]:
    """The recorded columns as they are (a row closed without an attempt keeps its counts)."""
    return {name: getattr(row, name) for name in RECORDED}


def _next_state(
    decision: Decision, result: DeliveryResult, number: int, round_number: int, first: datetime, now: datetime
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "delivered_at": None,
        "attempts": number,
        "round_attempts": round_number,
        "first_attempt_at": first,
        "last_attempt_at": now,
        "last_status_code": result.status_code,
        "last_error": result.error,
    }
    match decision.outcome:
        case Outcome.delivered:
            values |= {"status": "delivered", "delivered_at": now, "due_at": now, "last_error": None}
        case Outcome.retry:
            values |= {"status": "retrying", "due_at": decision.due_at}
        case Outcome.gone:
            values |= {"status": "disabled", "due_at": now}
        case Outcome.dead:
            values |= {"status": "dead", "due_at": now}
    return values


async def _disable(repo: NotifyRepository, ctx: NotifyContext, job: _Job, now: datetime) -> list[datetime]:
    """A 410: the channel is disabled in the preferences (with its waiting rows); the seller is told by the others."""
    row = job.row
    raw = await repo.preferences(row.seller_id, lock=True)
    if raw is None:
        return []
    current = stored.load(raw, ctx.secret_box)
    gone = current.channel(row.channel_key)
    if gone is None or row.channel_key in current.disabled:
        return []
    await repo.put_preferences(row.seller_id, stored.with_disabled(current, row.channel_key, now, ctx.secret_box), now)
    await repo.disable_channel_rows(row.seller_id, row.channel_key, "channel_disabled")
    log.warning("notification_channel_disabled", seller_id=row.seller_id, channel=row.channel_type)
    if row.event_type == notifying.CHANNEL_DISABLED:
        return []  # never a notice about a notice
    others = [c for c in current.active_channels() if stored.channel_key(c) != row.channel_key]
    added = await repo.add_notifications(notifying.disabled_notices(row, gone, others, now))
    return [a.due_at for a in added]


async def refresh_counts(sessions: async_sessionmaker[AsyncSession], ctx: NotifyContext) -> None:
    async with session_scope(sessions) as session:
        due, dead = await NotifyRepository(session).counts(ctx.clock.now())
    ctx.metrics.due.set(due)
    ctx.metrics.dead.set(dead)


async def next_due(sessions: async_sessionmaker[AsyncSession]) -> datetime | None:
    async with session_scope(sessions) as session:
        return await NotifyRepository(session).next_due()


def loop(sessions: async_sessionmaker[AsyncSession], ctx: NotifyContext) -> WorkerLoop:
    """The shared worker loop around `dispatch`: sleeps until the next due row (capped), woken by a commit."""
    s = ctx.settings
    counted_at = [0.0]

    async def step() -> float | None:
        done = await dispatch(sessions, ctx)
        if time.monotonic() - counted_at[0] >= _COUNTS_EVERY_S:
            counted_at[0] = time.monotonic()
            await refresh_counts(sessions, ctx)
        if done.full:
            return 0.0
        upcoming = await next_due(sessions)
        if upcoming is None:
            return None
        wait = max((upcoming - ctx.clock.now()).total_seconds(), 0.0)
        if wait == 0 and not done.claimed:
            return _HELD_ELSEWHERE_S  # due rows another replica holds (SKIP LOCKED): do not spin
        return wait

    return WorkerLoop(
        "notify-dispatcher",
        step,
        backoff=Backoff(base_s=_BACKOFF_BASE_S, cap_s=max(s.dispatch_backoff_max_s, _BACKOFF_BASE_S)),
        max_sleep_s=s.dispatch_max_sleep_s,
        wakeup=ctx.wakeup,
        clock=ctx.clock.now,
    )


async def dispatcher(runtime: ServiceRuntime[NotifyContext]) -> None:
    """The service's background worker (ServiceDefinition.workers)."""
    try:
        await loop(runtime.sessions, runtime.context).run()
    finally:
        await runtime.context.channels.http.aclose()
