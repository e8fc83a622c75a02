"""Checker runs: one report per run, pinned to the exact evidence set, and `evidence.validated`.

A run happens when a case's debounced check is due (`check_worker`, beside the API in every
evidence process) or at once on `POST …/evidence/check`. Either way the case row is locked
first, so a run and an upload of the same case never interleave, and the report, the event and
the cleared `check_due_at` are written in one transaction.

The worker claims due cases with `FOR UPDATE SKIP LOCKED` (several processes share the work),
sleeps until the nearest due time (at most `check_poll_interval_ms`), and is woken at once by the
process context's `wakeup`, set after an upload's or delete's commit: no hot polling. Time is the
context's clock. The loop is the shared
one (`shared/worker.py`); `run_due_check` is its step.
"""

from __future__ import annotations

import functools
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import structlog
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evidence.checker import Report, TrackingRef, check, load_ruleset, tracking_key, tracking_refs
from services.evidence.facts import case_facts, evidence_item, findings_json, set_json
from services.evidence.repository import EvidenceRepository
from shared.backoff import Backoff
from shared.clock import Clock
from shared.contracts import EvidenceRef, EvidenceValidatedV1, Finding, new_event
from shared.db.session import session_scope
from shared.worker import Wakeup, WorkerLoop

if TYPE_CHECKING:
    from services.evidence.context import EvidenceContext
    from shared.runtime import ServiceRuntime

log = structlog.get_logger(__name__)

SOURCE = "evidence"


@dataclass(frozen=True)
class Debounce:
    """A change is checked `delay` after the last change, but at most `max_wait` after the first."""

    delay: timedelta
    max_wait: timedelta


# --------------------------------------------------------------------------- one run


async def run_check(session: AsyncSession, case: Row[Any], *, now: datetime, trigger: str) -> Row[Any]:
    """Check the case's current set and store the report (the caller holds the case row lock)."""
    repo = EvidenceRepository(session)
    facts = case_facts(case)
    items = [evidence_item(row) for row in await repo.items(case.dispute_id)]
    ruleset = load_ruleset()
    numbers = sorted({tracking_key(ruleset, r.carrier, r.tracking_number)[1] for r in tracking_refs(facts, items)})
    others = [
        TrackingRef(m.carrier, m.tracking_number, m.order_id, m.dispute_id)
        for m in await repo.tracking_matches(case.seller_id, case.dispute_id, numbers)
    ]
    # CPU-bound (about 5-12 ms for ten items): off the event loop, so requests keep being served.
    started = time.perf_counter()
    report = await anyio.to_thread.run_sync(functools.partial(check, facts, items, others, now=now))
    check_ms = round((time.perf_counter() - started) * 1000, 2)
    values = _report_values(case, report, trigger=trigger)
    stored = await repo.insert_report(values)
    await repo.checked(case.dispute_id)
    await repo.add_events(_validated_event(case, values["id"], report, now))
    log.info(
        "evidence_checked",
        dispute_id=case.dispute_id,
        status=report.status,
        findings=len(report.findings),
        items=len(items),
        trigger=trigger,
        check_ms=check_ms,
    )
    return stored


def _report_values(case: Row[Any], report: Report, *, trigger: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "dispute_id": case.dispute_id,
        "set_version": case.set_version,
        "facts_version": case.facts_version,
        "evidence_set": set_json(report.evidence_set),
        "ruleset_version": report.ruleset_version,
        "reason_code": str(report.reason_code),
        "status": report.status,
        "findings": findings_json(report),
        "legal_basis": list(report.legal_basis),
        "trigger": trigger,
        "checked_at": report.checked_at,
    }


def _validated_event(case: Row[Any], report_id: uuid.UUID, report: Report, now: datetime) -> Any:
    data = EvidenceValidatedV1(
        dispute_id=case.dispute_id,
        report_id=report_id,
        status=report.status,
        ruleset_version=report.ruleset_version,
        findings=tuple(
            Finding(rule=f.rule, severity=f.severity, evidence_id=uuid.UUID(f.evidence_id) if f.evidence_id else None)
            for f in report.findings
        ),
        evidence_set=tuple(
            EvidenceRef(evidence_id=uuid.UUID(e.evidence_id), kind=e.kind, sha256=e.sha256) for e in report.evidence_set
        ),
    )
    return new_event(data, source=SOURCE, seller_id=case.seller_id, time=now)


# --------------------------------------------------------------------------- the debounce worker


async def run_due_check(sessions: async_sessionmaker[AsyncSession], *, retry: timedelta, clock: Clock) -> bool:
    """Claim one case whose check is due at `clock.now()` and run it; False when none is due.

    A run that fails (a bug, bad data) is retried `retry` later, so one case cannot stall the others.
    A database outage propagates: the worker waits it out.
    """
    now = clock.now()
    claimed: str | None = None
    try:
        async with session_scope(sessions) as session:
            case = await EvidenceRepository(session).claim_due_case(now)
            if case is None:
                return False
            claimed = case.dispute_id
            await run_check(session, case, now=now, trigger="debounce")
        return True
    except Exception as exc:
        if claimed is None:
            raise
        log.error("evidence_check_failed", dispute_id=claimed, error=repr(exc), retry_in_s=retry.total_seconds())
        async with session_scope(sessions) as session:
            await EvidenceRepository(session).set_check_due(claimed, clock.now() + retry)
        return True


async def next_due_in(sessions: async_sessionmaker[AsyncSession], *, longest: float, clock: Clock) -> float:
    """Seconds until the nearest due check, at most `longest`."""
    async with session_scope(sessions) as session:
        due = await EvidenceRepository(session).next_check_due()
    if due is None:
        return longest
    return max(0.0, min(longest, (due - clock.now()).total_seconds()))


def check_loop(
    sessions: async_sessionmaker[AsyncSession], *, poll_s: float, retry: timedelta, wake: Wakeup, clock: Clock
) -> WorkerLoop:
    """The shared worker loop running due checks: one case per pass, then a sleep until the next is
    due (at most `poll_s`) or `wake` is set; `.run()` it until cancelled."""

    async def step() -> float | None:
        if await run_due_check(sessions, retry=retry, clock=clock):
            return 0.0  # one case checked: look for the next at once
        return await next_due_in(sessions, longest=poll_s, clock=clock)

    return WorkerLoop("evidence-check-worker", step, backoff=_BACKOFF, max_sleep_s=poll_s, wakeup=wake, clock=clock.now)


_BACKOFF = Backoff(base_s=0.2, cap_s=5.0)


async def check_worker(runtime: ServiceRuntime[EvidenceContext]) -> None:
    """The `ServiceDefinition` worker: `check_loop` on the runtime's database, settings, clock and wake-up."""
    ctx = runtime.context
    s = ctx.settings
    await check_loop(
        runtime.sessions,
        poll_s=s.check_poll_interval_ms / 1000,
        retry=timedelta(milliseconds=s.check_retry_ms),
        wake=ctx.wakeup,
        clock=ctx.clock,
    ).run()
