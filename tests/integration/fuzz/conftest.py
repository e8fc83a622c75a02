"""Fuzzing targets: each service in services/ on the harness (real PostgreSQL), seeded so routes are reachable.

One target per service package found by scanning services/ (tests/services.py): a service with no
business routes is fuzzed on its ops routes, and picked up by itself once it has more. A service
with a `DEFINITION` runs on `tests/harness.py` (its own migrated database, no lifespan); one without
(the portal simulator) is its bare app. Seeding puts one seller's data in place (a seller, a case,
an evidence item where the service keeps them) so that generated requests can reach it, and
records its ids: a response to another seller must never show them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from shared.contracts import DeadlineAlertedV1, DisputeReceivedV1, Money, new_event
from shared.web.auth import mint_token
from tests.harness import ServiceHarness, service_harness
from tests.infra import TestInfra
from tests.services import service_main

SELLER = "VFUZZA0001"  # the seeded seller
OTHER = "VFUZZB0002"  # another seller, with nothing of its own
DISPUTE = "CD-FUZZA-000001"
ORDER = "ORD-FUZZA-000001"
BUYER = "B-FUZZA-000001"
MONTH = datetime.now(UTC).strftime("%Y-%m")


@dataclass
class Target:
    """A service under the fuzzer: its app behind an httpx client, and what was seeded in it."""

    name: str
    app: Any
    client: httpx.AsyncClient
    loop: asyncio.AbstractEventLoop  # the harness's loop: every request runs on it
    secret: str  # the app's token secret
    path_values: dict[str, str]  # seeded values for path (and seller_id query) parameters
    secret_values: set[str]  # the seeded seller's ids: never in an answer to another seller
    webhook_secret: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def token(self, role: str, seller_id: str | None = None) -> str:
        return mint_token(self.secret, role, seller_id)


def _received(dispute_id: str = DISPUTE) -> Any:
    data = DisputeReceivedV1(
        dispute_id=dispute_id,
        seller_id=SELLER,
        notice_id="N-FUZZA-0001",
        kind="chargeback",
        order_id=ORDER,
        amount=Money(value="45000", currency="KRW"),
        reason_code="NOT_RECEIVED",
        buyer_id=BUYER,
        notified_at=datetime.now(UTC) - timedelta(hours=1),
    )
    return new_event(data, source="tests", seller_id=SELLER)


async def _seed_ingest(h: ServiceHarness, target: Target) -> None:
    for seller in (SELLER, OTHER):
        body = {"seller_id": seller, "name": "Fuzz Trading", "contact": "ops@example.cn"}
        answer = await h.client.post("/v1/sellers", json=body, headers=h.operator_headers())
        assert answer.status_code == 201, answer.text
        if seller == SELLER:
            target.webhook_secret = answer.json()["webhook_secret"]
    notice = {
        "event": "dispute.opened",
        "notice_id": "N-FUZZA-0001",
        "notified_at": datetime.now(UTC).isoformat(),
        "disputes": [
            {
                "dispute_id": DISPUTE,
                "kind": "chargeback",
                "order_id": ORDER,
                "amount": {"value": "45000", "currency": "KRW"},
                "reason_code": "NOT_RECEIVED",
                "buyer_id": BUYER,
            }
        ],
    }
    raw = json.dumps(notice).encode()
    answer = await h.client.post(
        f"/v1/webhooks/coupang/{SELLER}", content=raw, headers=sign(target.webhook_secret or "", raw)
    )
    assert answer.status_code == 202, answer.text
    plan = {
        "tier": "pro",
        "base_fee": "299",
        "case_fee_domestic": "15",
        "case_fee_international": "25",
        "commission_rate": "0.04",
        "commission_cap": "200",
    }
    answer = await h.client.put(f"/v1/sellers/{SELLER}/plan", json=plan, headers=h.operator_headers())
    assert answer.status_code == 200, answer.text
    rates = {"plan_currency": "CNY", "rates": {"KRW": "0.0052"}}
    answer = await h.client.put(f"/v1/rates/{MONTH}", json=rates, headers=h.operator_headers())
    assert answer.status_code == 200, answer.text


async def _seed_evidence(h: ServiceHarness, target: Target) -> None:
    meta = {"kind": "statement", "text": "The parcel was delivered on 28 October.", "order_id": ORDER}
    answer = await h.client.post(f"/v1/cases/{DISPUTE}/evidence", json=meta, headers=h.seller_headers(SELLER))
    assert answer.status_code == 201, answer.text
    evidence_id = answer.json()["evidence_id"]
    target.path_values["evidence_id"] = evidence_id
    target.secret_values.add(evidence_id)


async def _seed_notify(h: ServiceHarness, target: Target) -> None:
    secret = "whsec_" + base64.b64encode(b"f" * 32).decode()
    prefs = {"language": "zh", "channels": [{"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": secret}]}
    answer = await h.client.put("/v1/preferences", json=prefs, headers=h.seller_headers(SELLER))
    assert answer.status_code == 200, answer.text
    due = datetime.now(UTC) + timedelta(days=2)
    alert = DeadlineAlertedV1(dispute_id=DISPUTE, alert="reminder", due_at=due, hours_left=48.0, offset_minutes=2880)
    assert await h.deliver_events(new_event(alert, source="tests", seller_id=SELLER)) == ["handled"]
    listed = await h.client.get("/v1/notifications", headers=h.seller_headers(SELLER))
    [notification] = listed.json()["items"]
    target.path_values["notification_id"] = notification["id"]
    target.secret_values.add(notification["id"])


SEEDERS = {"ingest": _seed_ingest, "evidence": _seed_evidence, "notify": _seed_notify}


def sign(secret: str, raw: bytes) -> dict[str, str]:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    at = datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, raw.decode("utf-8", "replace")),
        "content-type": "application/json",
    }


@pytest.fixture(scope="module")
async def target(
    request: pytest.FixtureRequest, infra: TestInfra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Target]:
    name: str = request.param
    main = service_main(name)
    loop = asyncio.get_running_loop()
    values = {"seller_id": SELLER, "dispute_id": DISPUTE, "buyer_id": BUYER, "month": MONTH}
    secrets = {SELLER, DISPUTE, ORDER, BUYER}
    if not hasattr(main, "DEFINITION"):  # no database, no events: the bare app
        app = main.create_app()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            yield Target(name, app, client, loop, app.state.settings.auth_secret, values, secrets)
        return
    settings: dict[str, Any] = {}
    if name == "evidence":
        settings = {"blob_root": tmp_path_factory.mktemp("fuzz-blobs"), "check_debounce_ms": 0}
    if name == "submit":
        settings = {"package_root": tmp_path_factory.mktemp("fuzz-packages")}
    if name == "notify":
        settings = {"allow_private_targets": True}  # the seeded channel is local; nothing is sent (no dispatcher)
    async with service_harness(infra, main, **settings) as harness:
        target = Target(name, harness.app, harness.client, loop, harness.settings.auth_secret, values, secrets)
        if "dispute.received/v1" in harness.definition.handlers and name != "ingest":
            assert await harness.deliver_events(_received()) == ["handled"]
        if name in SEEDERS:
            await SEEDERS[name](harness, target)
        yield target
