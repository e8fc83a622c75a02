"""The deadline service on the shared harness (tests/harness.py), with a clock the tests move.

The app runs without its lifespan (no relay, consumer or scheduler loop): events are delivered
through the consumer's own claim-and-handle step, and the scheduler's `tick` is called directly
at the clock's time.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

import services.deadline.main
from services.deadline import models, scheduler
from services.deadline.context import DeadlineContext
from shared.clock import ManualClock
from shared.contracts import (
    CaseSubmittedV1,
    DisputeReceivedV1,
    DisputeUpdatedV1,
    Envelope,
    Money,
    VerdictReturnedV1,
    new_event,
)
from tests.harness import ServiceHarness, service_harness
from tests.infra import TestInfra

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 10:00 KST


class Deadline(ServiceHarness):
    @property
    def context(self) -> DeadlineContext:
        return self.app.state.runtime.context  # type: ignore[no-any-return]

    @property
    def clock(self) -> ManualClock:
        return self.context.clock  # type: ignore[return-value]

    async def tick(self) -> scheduler.Tick:
        return await scheduler.tick(self.sessions, self.context)

    async def reminders(self, dispute_id: str) -> dict[tuple[int, int], str]:
        """{(version, offset_minutes): state}"""
        t = models.reminders
        async with self.session() as session:
            rows = await session.execute(select(t).where(t.c.dispute_id == dispute_id))
            return {(r.version, r.offset_minutes): r.state for r in rows}

    async def row(self, dispute_id: str) -> Any:
        t = models.deadlines
        async with self.session() as session:
            return (await session.execute(select(t).where(t.c.dispute_id == dispute_id))).first()

    async def events(self, dispute_id: str | None = None, type_: str | None = None) -> list[Envelope]:
        """The outbox, taken out (each test sees only what it caused)."""
        events = await self.outbox_events(clear=True)
        return [
            e for e in events if (dispute_id is None or e.subject == dispute_id) and (type_ is None or e.type == type_)
        ]


@pytest.fixture(scope="module")
async def deadline_service(infra: TestInfra) -> AsyncIterator[Deadline]:
    async with service_harness(infra, services.deadline.main, harness=Deadline) as harness:
        yield harness


@pytest.fixture
async def deadline(deadline_service: Deadline) -> Deadline:
    """The module's service with its clock back at T0 and its outbox empty (disputes are per test)."""
    deadline_service.context.clock = ManualClock(T0)
    await deadline_service.outbox_events(clear=True)
    return deadline_service


def new_dispute_id() -> str:
    return f"CD-{uuid.uuid4().hex[:12]}"


def received(
    dispute_id: str,
    *,
    notified_at: Any = "2026-11-23T10:00:00+09:00",
    kind: str = "platform_dispute",
    respond_by: Any = None,
    seller_id: str = "V1",
) -> Envelope:
    return new_event(
        DisputeReceivedV1(
            dispute_id=dispute_id,
            seller_id=seller_id,
            notice_id=f"N-{dispute_id}",
            kind=kind,
            order_id="3000123456789",
            amount=Money(value="45000", currency="KRW"),
            reason_code="NOT_RECEIVED",
            notified_at=notified_at,
            respond_by=respond_by,
        ),
        source="tests",
        seller_id=seller_id,
    )


def updated(dispute_id: str, change: str = "updated", seller_id: str = "V1", **fields: Any) -> Envelope:
    data = DisputeUpdatedV1(dispute_id=dispute_id, seller_id=seller_id, change=change, **fields)
    return new_event(data, source="tests", seller_id=seller_id)


def submitted(dispute_id: str) -> Envelope:
    data = CaseSubmittedV1(
        dispute_id=dispute_id,
        receipt_id="R-1",
        adapter="http",
        submitted_at=T0,
        package_sha256="0" * 64,
    )
    return new_event(data, source="tests", seller_id="V1")


def verdict(dispute_id: str) -> Envelope:
    return new_event(VerdictReturnedV1(dispute_id=dispute_id, outcome="won"), source="tests", seller_id="V1")


def kst_end(day: date) -> datetime:
    """23:59:59 KST of `day`, in UTC."""
    return datetime(day.year, day.month, day.day, 14, 59, 59, tzinfo=UTC)
