"""The notify service on the shared harness (tests/harness.py), with local sinks and a clock the tests move.

The app runs without its lifespan: events are delivered through the consumer's own claim-and-
handle step (`deliver_events`) and the dispatcher's pass (`dispatcher.dispatch`) is called
directly at the clock's time. The clock starts at the real time (webhook receivers check
`webhook-timestamp` against theirs) and the retry schedule is short, so a test stays within
Standard Webhooks' five-minute tolerance. Private targets are allowed, as under `make run`.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import services.notify.main
from services.notify import dispatcher
from services.notify.context import NotifyContext
from shared.clock import ManualClock
from shared.contracts import (
    CaseSubmittedV1,
    DeadlineAlertedV1,
    DeadlineScheduledV1,
    DisputeReceivedV1,
    DisputeUpdatedV1,
    Envelope,
    EvidenceValidatedV1,
    Money,
    VerdictReturnedV1,
    new_event,
)
from tests.harness import ServiceHarness, service_harness
from tests.infra import TestInfra

WHSEC = "whsec_" + base64.b64encode(b"n" * 32).decode()
RETRY_DELAYS_S = (5.0, 20.0, 40.0)


class Notify(ServiceHarness):
    @property
    def context(self) -> NotifyContext:
        return self.app.state.runtime.context  # type: ignore[no-any-return]

    @property
    def clock(self) -> ManualClock:
        return self.context.clock  # type: ignore[return-value]

    async def dispatch(self) -> dispatcher.Pass:
        return await dispatcher.dispatch(self.sessions, self.context)

    async def drain(self) -> int:
        """Dispatch until nothing is due at the clock's time; returns the rows sent."""
        sent = 0
        while (done := await self.dispatch()).claimed:
            sent += done.claimed
        return sent

    async def put_preferences(self, seller_id: str, document: dict[str, Any]) -> Any:
        answer = await self.client.put("/v1/preferences", json=document, headers=self.seller_headers(seller_id))
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def notifications(self, seller_id: str, **filters: str) -> list[dict[str, Any]]:
        answer = await self.client.get("/v1/notifications", params=filters, headers=self.seller_headers(seller_id))
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
async def notify_service(infra: TestInfra) -> AsyncIterator[Notify]:
    async with service_harness(
        infra,
        services.notify.main,
        harness=Notify,
        clock=ManualClock(datetime.now(UTC)),
        allow_private_targets=True,
        retry_delays_s=RETRY_DELAYS_S,
        dispatch_lease_s=30.0,
        dashboard_base_url="https://desk.example.com",
    ) as harness:
        yield harness


@pytest.fixture
async def notify(notify_service: Notify) -> Notify:
    """The module's service with its clock at the real time again (sellers and disputes are per test)."""
    notify_service.clock.set(datetime.now(UTC).replace(microsecond=0))
    return notify_service


def new_seller() -> str:
    return f"V{uuid.uuid4().hex[:10].upper()}"


def new_dispute_id() -> str:
    return f"CD-{uuid.uuid4().hex[:12]}"


def webhook_prefs(url: str, **extra: Any) -> dict[str, Any]:
    return {"language": "zh", "channels": [{"type": "webhook", "url": url, "secret": WHSEC}], **extra}


def received(
    dispute_id: str, seller_id: str, *, amount: str = "125000", notified_at: datetime | None = None
) -> Envelope:
    data = DisputeReceivedV1(
        dispute_id=dispute_id,
        seller_id=seller_id,
        notice_id=f"N-{dispute_id}",
        kind="platform_dispute",
        order_id="3000123456789",
        amount=Money(value=amount, currency="KRW"),
        reason_code="NOT_RECEIVED",
        reason_text="상품을 받지 못했습니다",
        notified_at=notified_at or datetime(2026, 11, 2, 1, 0, tzinfo=UTC),
    )
    return new_event(data, source="tests", seller_id=seller_id)


def scheduled(dispute_id: str, seller_id: str, due_at: datetime) -> Envelope:
    data = DeadlineScheduledV1(dispute_id=dispute_id, due_at=due_at, business_days=7, rule="computed")
    return new_event(data, source="tests", seller_id=seller_id)


def alerted(dispute_id: str, seller_id: str, due_at: datetime, now: datetime) -> Envelope:
    hours = round((due_at - now).total_seconds() / 3600, 2)
    data = DeadlineAlertedV1(
        dispute_id=dispute_id, alert="reminder", due_at=due_at, hours_left=hours, offset_minutes=1440
    )
    return new_event(data, source="tests", seller_id=seller_id)


def updated(dispute_id: str, seller_id: str) -> Envelope:
    data = DisputeUpdatedV1(
        dispute_id=dispute_id, seller_id=seller_id, change="updated", amount=Money(value="99000", currency="KRW")
    )
    return new_event(data, source="tests", seller_id=seller_id)


def validated(dispute_id: str, seller_id: str) -> Envelope:
    data = EvidenceValidatedV1(dispute_id=dispute_id, report_id=uuid.uuid4(), status="ready", ruleset_version="2026.11")
    return new_event(data, source="tests", seller_id=seller_id)


def submitted(dispute_id: str, seller_id: str, at: datetime) -> Envelope:
    data = CaseSubmittedV1(
        dispute_id=dispute_id, receipt_id="R-7788", adapter="http", submitted_at=at, package_sha256="0" * 64
    )
    return new_event(data, source="tests", seller_id=seller_id)


def verdict(dispute_id: str, seller_id: str) -> Envelope:
    data = VerdictReturnedV1(dispute_id=dispute_id, outcome="won", summary_zh="平台支持卖家")
    return new_event(data, source="tests", seller_id=seller_id)


def later(notify: Notify, seconds: float) -> datetime:
    notify.clock.advance(timedelta(seconds=seconds))
    return notify.clock.now()
