"""The browser tests' data, made as a seller and an operator would make it: through the services' public
HTTP APIs of the running system (tests/system.py), never by writing rows.

A seller is onboarded with an operator token (its answer carries the seller's token and webhook secret),
a notice is signed with the `standardwebhooks` reference library and posted to ingest, evidence is
uploaded to the evidence service. Notice times are now, and deadlines a few days ahead, so the cases
are open whatever day the suite runs.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
from standardwebhooks import Webhook

from shared.settings import DEVELOPMENT_AUTH_SECRET
from shared.web.auth import mint_token
from tests.system import RunningSystem

KST = ZoneInfo("Asia/Seoul")
ORDER = "3000987650001"  # the order the evidence samples name
SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"
WAIT_S = 30.0

T = TypeVar("T")


def sample(name: str) -> dict[str, Any]:
    """One of the evidence samples (tests/fixtures/samples/evidence_<name>.json): a meta, `kind` included."""
    return json.loads((SAMPLES / f"evidence_{name}.json").read_text(encoding="utf-8"))


def kst_today() -> date:
    return datetime.now(KST).date()


@dataclass(frozen=True)
class Seller:
    seller_id: str
    token: str
    webhook_secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Desk:
    """The system's public APIs, for making a test's data and waiting until every service knows it."""

    def __init__(self, system: RunningSystem, client: httpx.AsyncClient) -> None:
        self.system = system
        self.client = client
        self.auth_secret = system.env.get("DD_AUTH_SECRET", DEVELOPMENT_AUTH_SECRET)  # what the services verify
        self.operator_token = mint_token(self.auth_secret, "operator")

    @property
    def operator_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.operator_token}"}

    def url(self, service: str, path: str) -> str:
        return f"{self.system.url(service)}{path}"

    async def onboard(self, name: str = "深圳测试商贸有限公司") -> Seller:
        seller_id = f"VB{uuid.uuid4().hex[:8].upper()}"
        answer = await self.client.post(
            self.url("ingest", "/v1/sellers"),
            json={"seller_id": seller_id, "name": name, "contact": "ops@example.com"},
            headers=self.operator_headers,
        )
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return Seller(seller_id, body["token"], body["webhook_secret"])

    async def post_notice(self, seller: Seller, *disputes: dict[str, Any]) -> list[dict[str, Any]]:
        """One signed `dispute.opened` notice carrying `disputes`, notified now; the per-dispute results."""
        raw = json.dumps(
            {
                "event": "dispute.opened",
                "notice_id": f"N-{uuid.uuid4().hex[:10]}",
                "notified_at": datetime.now(KST).isoformat(timespec="seconds"),
                "disputes": list(disputes),
            },
            ensure_ascii=False,
        )
        webhook_id, at = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
        answer = await self.client.post(
            self.url("ingest", f"/v1/webhooks/coupang/{seller.seller_id}"),
            content=raw.encode(),  # the exact bytes that were signed
            headers={
                "webhook-id": webhook_id,
                "webhook-timestamp": str(int(at.timestamp())),
                "webhook-signature": Webhook(seller.webhook_secret).sign(webhook_id, at, raw),
                "content-type": "application/json",
            },
        )
        assert answer.status_code == 202, answer.text
        results: list[dict[str, Any]] = answer.json()["results"]
        assert all(r["result"] == "created" for r in results), results
        return results

    async def open_case(self, seller: Seller, *, days_left: int = 5, **fields: Any) -> str:
        """A new open case due `days_left` KST days from today, known to every service; its dispute id."""
        (dispute_id,) = await self.open_cases(seller, dispute(days_left, **fields))
        return dispute_id

    async def open_cases(self, seller: Seller, *disputes: dict[str, Any]) -> list[str]:
        """One notice carrying `disputes` (see `dispute()`), each case known to every service; their ids."""
        await self.post_notice(seller, *disputes)
        ids = [d["dispute_id"] for d in disputes]
        await asyncio.gather(*(self.known_everywhere(seller, dispute_id) for dispute_id in ids))
        return ids

    async def known_everywhere(self, seller: Seller, dispute_id: str) -> None:
        """Until ingest shows the case's deadline (the deadline service scheduled it) and evidence knows it."""
        await until(lambda: self.case(seller, dispute_id), lambda case: case.get("deadline") is not None)
        await until(
            lambda: self.client.get(self.url("evidence", f"/v1/cases/{dispute_id}/evidence"), headers=seller.headers),
            lambda answer: answer.status_code == 200,
        )

    async def accept(self, seller: Seller, dispute_id: str) -> None:
        """The seller concedes the case (status `accepted`: no longer open)."""
        answer = await self.client.post(self.url("ingest", f"/v1/cases/{dispute_id}/accept"), headers=seller.headers)
        assert answer.status_code == 200, answer.text

    async def set_plan(self, seller: Seller, **plan: str) -> None:
        """The seller's fee plan (the operator sets it), over a plain default one."""
        body = {
            "tier": "pro",
            "base_fee": "990.00",
            "case_fee_domestic": "80",
            "case_fee_international": "150",
            "commission_rate": "0.04",
            "commission_cap": "2000",
            "currency": "CNY",
        } | plan
        answer = await self.client.put(
            self.url("ingest", f"/v1/sellers/{seller.seller_id}/plan"), json=body, headers=self.operator_headers
        )
        assert answer.status_code == 200, answer.text

    async def case(self, seller: Seller, dispute_id: str) -> dict[str, Any]:
        answer = await self.client.get(self.url("ingest", f"/v1/cases/{dispute_id}"), headers=seller.headers)
        assert answer.status_code == 200, answer.text
        case: dict[str, Any] = answer.json()
        return case

    async def upload(self, seller: Seller, dispute_id: str, meta: dict[str, Any]) -> str:
        """A structured item (its meta as the JSON body); its evidence id."""
        answer = await self.client.post(
            self.url("evidence", f"/v1/cases/{dispute_id}/evidence"), json=meta, headers=seller.headers
        )
        assert answer.status_code == 201, answer.text
        evidence_id: str = answer.json()["evidence_id"]
        return evidence_id

    async def report_status(self, seller: Seller, dispute_id: str) -> str | None:
        answer = await self.client.get(self.url("evidence", f"/v1/cases/{dispute_id}/report"), headers=seller.headers)
        return answer.json()["status"] if answer.status_code == 200 else None

    async def until_report(self, seller: Seller, dispute_id: str, status: str) -> None:
        """Until the checker's latest report of the case is `status` (the checker runs debounced)."""
        await until(lambda: self.report_status(seller, dispute_id), lambda found: found == status)

    async def until_case_status(self, seller: Seller, dispute_id: str, status: str) -> dict[str, Any]:
        return await self.until_case(seller, dispute_id, lambda case: case["status"] == status)

    async def until_case(
        self, seller: Seller, dispute_id: str, done: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """Until ingest's case (which every service's facts reach as events) is `done`."""
        return await until(lambda: self.case(seller, dispute_id), done)

    async def verdict_soon(self, seller: Seller, outcome: str = "won", delay_s: float = 0.5) -> None:
        """The portal simulator decides this seller's packages `outcome` after `delay_s` (its admin rule)."""
        answer = await self.client.post(
            self.url("portal_sim", "/admin/verdict-rules"),
            json={"seller_id": seller.seller_id, "outcome": outcome, "delay_s": delay_s},
        )
        assert answer.status_code in (200, 201, 204), answer.text


def dispute(
    days_left: int = 5,
    *,
    reason_code: str = "NOT_RECEIVED",
    reason_text: str = "买家称未收到货 / 상품 미수령",
    amount: str = "45000",
    dispute_id: str | None = None,
) -> dict[str, Any]:
    """One dispute of a notice, due `days_left` KST days from today (`respond_by`), on the samples' order."""
    return {
        "dispute_id": dispute_id or f"CD-B{uuid.uuid4().hex[:10].upper()}",
        "kind": "chargeback",
        "order_id": ORDER,
        "amount": {"value": amount, "currency": "KRW"},
        "reason_code": reason_code,
        "reason_text": reason_text,
        "buyer_id": "B-77",
        "respond_by": (kst_today() + timedelta(days=days_left)).isoformat(),
    }


async def until(
    fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, timeout_s: float = WAIT_S, every_s: float = 0.1
) -> T:
    """Ask `fetch` again until `done` says yes; the last answer. For the data a test sets up (the services
    apply events asynchronously), not for what the page shows: that is Playwright's `expect`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await fetch()
        if done(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"still not there after {timeout_s:.0f} s: {found!r}")
        await asyncio.sleep(every_s)
