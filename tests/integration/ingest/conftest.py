"""The ingest service on the shared harness (tests/harness.py), plus what its tests add:
onboarding a seller, signing a webhook, counting cases and outbox rows.

The app runs WITHOUT its lifespan (no relay, no consumer, no Kafka needed): HTTP tests assert
the outbox rows in the database, and events are delivered through the consumer's own
claim-and-handle step (`harness.deliver`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

import services.ingest.main
from services.ingest import models
from shared.contracts import EventData, new_event
from shared.db.session import session_scope
from tests.harness import ServiceHarness, service_harness
from tests.infra import TestInfra


class Ingest(ServiceHarness):
    def operator(self) -> dict[str, str]:
        return self.operator_headers()

    def seller(self, seller_id: str) -> dict[str, str]:
        return self.seller_headers(seller_id)

    async def onboard(self, seller_id: str | None = None) -> tuple[str, str]:
        """A new seller: (seller_id, webhook secret)."""
        seller_id = seller_id or f"V{uuid.uuid4().hex[:10].upper()}"
        body = {"seller_id": seller_id, "name": "Shenzhen Demo Trading", "contact": "ops@example.cn"}
        answer = await self.client.post("/v1/sellers", json=body, headers=self.operator())
        assert answer.status_code == 201, answer.text
        return seller_id, answer.json()["webhook_secret"]

    async def deliver(
        self,
        seller_id: str,
        secrets: str | list[str],
        body: bytes | dict,
        *,
        webhook_id: str | None = None,
        at: datetime | None = None,
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        headers = signed_headers(secrets, raw, webhook_id=webhook_id, at=at)
        return await self.client.post(f"/v1/webhooks/coupang/{seller_id}", content=raw, headers=headers)

    async def scalar(self, query) -> Any:
        async with session_scope(self.sessions) as session:
            return (await session.execute(query)).scalar()

    async def outbox_count(self, dispute_id: str, topic: str | None = None) -> int:
        t = models.outbox_table
        query = select(func.count()).select_from(t).where(t.c.key == dispute_id)
        if topic:
            query = query.where(t.c.topic == topic)
        return await self.scalar(query)

    async def case_count(self, dispute_id: str) -> int:
        return await self.scalar(
            select(func.count()).select_from(models.cases).where(models.cases.c.dispute_id == dispute_id)
        )


async def deliver_event(ingest: Ingest, data: EventData, *, at: datetime, event_id: uuid.UUID | None = None):
    """Apply one event the way the consumer does: inbox claim and handler, in one transaction."""
    event = new_event(data, source="tests", time=at, event_id=event_id)
    await ingest.deliver_events(event)
    return event


def signed_headers(
    secrets: str | list[str], raw: bytes, *, webhook_id: str | None = None, at: datetime | None = None
) -> dict[str, str]:
    """Standard Webhooks headers, signed by the reference library (several secrets: several signatures)."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    keys = [secrets] if isinstance(secrets, str) else secrets
    signature = " ".join(Webhook(key).sign(webhook_id, at, raw.decode()) for key in keys)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


@pytest.fixture(scope="module")
async def ingest(infra: TestInfra) -> AsyncIterator[Ingest]:
    async with service_harness(infra, services.ingest.main, harness=Ingest) as harness:
        yield harness


def notice(*disputes: dict, event: str = "dispute.opened", notice_id: str | None = None) -> dict:
    return {
        "event": event,
        "notice_id": notice_id or f"N-{uuid.uuid4().hex[:8]}",
        "notified_at": "2026-11-02T09:40:00+09:00",
        "disputes": list(disputes),
    }


def dispute(dispute_id: str | None = None, **fields: Any) -> dict:
    base = {
        "dispute_id": dispute_id or f"CD-{uuid.uuid4().hex[:12]}",
        "kind": "chargeback",
        "order_id": "3000987650001",
        "amount": {"value": "45000", "currency": "KRW"},
        "reason_code": "NOT_RECEIVED",
        "reason_text": "상품 미수령",
        "buyer_id": "B-77",
        "respond_by": None,
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not ...}
