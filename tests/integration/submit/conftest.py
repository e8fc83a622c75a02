"""The submit service on the shared harness (tests/harness.py) with what it talks to on loopback ports:
the portal simulator (services/portal_sim, in this event loop) and a small stand-in of the evidence
service (the three routes submit reads: the evidence list, each file's content, the report).

The submit app runs WITHOUT its lifespan (no relay, consumer or worker): events are delivered through
the consumer's own path (`deliver_events`), what it emits stays in the outbox, and a test runs the
reconciler or the poller pass itself. The app is also served on a loopback port, so the simulator's
signed verdict callbacks reach `POST /v1/portal/verdicts` over HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

import services.submit.main
from services.portal_sim.main import create_app as create_portal
from services.portal_sim.settings import Settings as PortalSettings
from services.portal_sim.settings import VerdictRule
from shared.clock import ManualClock
from shared.contracts import (
    DeadlineScheduledV1,
    DisputeReceivedV1,
    Envelope,
    EvidenceValidatedV1,
    Money,
    new_event,
)
from shared.web.auth import decode_token
from tests.harness import ServiceHarness, service_harness
from tests.infra import TestInfra

ORDER = "3000987650001"
AMOUNT = "45000"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def serve(app: FastAPI) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off"))
    server.config.timeout_graceful_shutdown = 1
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started, "the server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class StoredFile:
    """An evidence item at the stand-in: a file (`data`) and/or structured `meta` (a message log's messages)."""

    evidence_id: uuid.UUID
    kind: str
    data: bytes | None
    media_type: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False

    @property
    def sha256(self) -> str | None:
        return None if self.data is None else hashlib.sha256(self.data).hexdigest()


@dataclass
class EvidenceStandIn:
    """The evidence service's routes submit reads, over the files a test put there."""

    secret: str
    files: dict[str, list[StoredFile]] = field(default_factory=dict)
    served: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        def authorized(request: Request) -> bool:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            return decode_token(self.secret, token).is_operator

        @app.get("/v1/cases/{dispute_id}/evidence")
        async def listing(dispute_id: str, request: Request) -> Response:
            if not authorized(request):
                return JSONResponse({"code": "forbidden"}, status_code=403)
            items = [
                {
                    "evidence_id": str(f.evidence_id),
                    "kind": f.kind,
                    "media_type": f.media_type,
                    "uploader": "seller:V",
                    "uploaded_at": "2026-11-02T01:00:00+00:00",
                    "source": "upload",
                    "captured_at": None,
                    "meta": {"kind": f.kind, **f.meta},
                    "deleted_at": "2026-11-02T02:00:00+00:00" if f.deleted else None,
                }
                for f in self.files.get(dispute_id, [])
            ]
            return JSONResponse({"dispute_id": dispute_id, "items": items})

        @app.get("/v1/cases/{dispute_id}/evidence/{evidence_id}/content")
        async def content(dispute_id: str, evidence_id: str, request: Request) -> Response:
            if not authorized(request):
                return JSONResponse({"code": "forbidden"}, status_code=403)
            for f in self.files.get(dispute_id, []):
                if str(f.evidence_id) == evidence_id and f.data is not None and not f.deleted:
                    self.served += 1
                    return Response(f.data, media_type=f.media_type)
            return JSONResponse({"code": "evidence_not_found"}, status_code=404)

        @app.get("/v1/cases/{dispute_id}/report")
        async def report(dispute_id: str, lang: str = "ko") -> Response:
            title = {"ko": "통신판매업자의 의무", "zh": "通信销售业者的义务"}.get(lang, "duties")
            basis = [
                {
                    "id": "ecommerce-act-17",
                    "law": "전자상거래법",
                    "article": "제17조",
                    "title": title,
                    "summary": "요약",
                }
            ]
            return JSONResponse({"legal_basis": basis})

        return app


class Submit(ServiceHarness):
    evidence: EvidenceStandIn
    portal_url: str
    portal_app: FastAPI
    clock: ManualClock

    async def new_case(
        self,
        seller_id: str | None = None,
        *,
        files: int = 2,
        status: str = "ready",
        due_in: timedelta | None = timedelta(days=3),
        extra: Sequence[StoredFile] = (),
    ) -> tuple[str, str]:
        """A case received, its files (and the `extra` items) at the evidence stand-in, validated and
        scheduled: (seller, dispute)."""
        seller_id = seller_id or f"V{uuid.uuid4().hex[:8].upper()}"
        dispute_id = f"CD-{uuid.uuid4().hex[:12]}"
        stored = [
            StoredFile(uuid.uuid4(), kind, PNG + f"{dispute_id}-{n}".encode(), "image/png")
            for n, kind in enumerate(["proof_of_delivery", "tracking_record", "product_photo"][:files] * 4)
        ][:files]
        self.evidence.files[dispute_id] = [*stored, *extra]
        received = DisputeReceivedV1(
            dispute_id=dispute_id,
            seller_id=seller_id,
            notice_id=f"N-{uuid.uuid4().hex[:8]}",
            kind="platform_dispute",
            order_id=ORDER,
            amount=Money(value=AMOUNT, currency="KRW"),
            reason_code="NOT_RECEIVED",
            notified_at=self.clock.now() - timedelta(days=1),
        )
        events: list[Envelope[Any]] = [new_event(received, source="tests", seller_id=seller_id)]
        events.append(self.report_event(seller_id, dispute_id, status=status))
        if due_in is not None:
            scheduled = DeadlineScheduledV1(
                dispute_id=dispute_id, due_at=self.clock.now() + due_in, business_days=3, rule="computed"
            )
            events.append(new_event(scheduled, source="tests", seller_id=seller_id))
        await self.deliver_events(*events)
        return seller_id, dispute_id

    def report_event(self, seller_id: str, dispute_id: str, *, status: str = "ready") -> Envelope[Any]:
        findings = [] if status == "ready" else [{"rule": "delivery_proof_present", "severity": "blocker"}]
        data = EvidenceValidatedV1(
            dispute_id=dispute_id,
            report_id=uuid.uuid4(),
            status=status,
            ruleset_version="test",
            findings=findings,
            evidence_set=[
                {"evidence_id": f.evidence_id, "kind": f.kind, "sha256": f.sha256}
                for f in self.evidence.files.get(dispute_id, [])
            ],
        )
        return new_event(data, source="tests", seller_id=seller_id, time=datetime.now(UTC))

    def body(self, dispute_id: str, **over: Any) -> dict[str, Any]:
        return {"dispute_id": dispute_id, "order_id": ORDER, "amount": {"value": AMOUNT, "currency": "KRW"}, **over}

    async def submit(
        self, dispute_id: str, seller_id: str | None, *, key: str | None = None, **over: Any
    ) -> httpx.Response:
        headers = self.seller_headers(seller_id) if seller_id else self.operator_headers()
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(
            f"/v1/cases/{dispute_id}/submit", json=self.body(dispute_id, **over), headers=headers
        )

    async def events_of(self, dispute_id: str, type_: str) -> list[Envelope[Any]]:
        return [e for e in await self.outbox_events() if e.subject == dispute_id and e.type == type_]

    async def fault(self, **body: Any) -> None:
        async with httpx.AsyncClient(base_url=self.portal_url) as admin:
            (await admin.post("/admin/faults", json=body)).raise_for_status()

    def portal_packages(self, dispute_id: str) -> list[Any]:
        return [p for p in self.portal_app.state.portal.packages.values() if p.dispute_id == dispute_id]

    def set_settings(self, **changes: Any) -> Any:
        """Swap the process context's settings (they are frozen); returns the previous ones to restore."""
        previous = self.context.settings
        self.context.settings = previous.model_copy(update=changes)
        return previous


@pytest.fixture(scope="module")
async def submit(infra: TestInfra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Submit]:
    portal_settings = PortalSettings(callback_url=None, default_verdict=VerdictRule(outcome="won", delay_s=0.2))
    portal_app = create_portal(portal_settings)
    evidence = EvidenceStandIn(secret="")
    clock = ManualClock(datetime.now(UTC))
    async for portal_url in serve(portal_app):
        evidence_app_holder: dict[str, str] = {}
        async with service_harness(
            infra,
            services.submit.main,
            harness=Submit,
            clock=clock,
            evidence_url="http://127.0.0.1:9",  # replaced below, once the stand-in listens
            portal_url=portal_url,
            package_root=tmp_path_factory.mktemp("packages"),
            portal_timeout_s=1.0,
            portal_max_attempts=3,
            reconcile_after_s=30.0,
            verdict_poll_after_s=60.0,
        ) as harness:
            evidence.secret = harness.settings.auth_secret
            async for evidence_url in serve(evidence.app()):
                evidence_app_holder["url"] = evidence_url
                ctx = harness.context
                await ctx.evidence.aclose()
                ctx.evidence = httpx.AsyncClient(base_url=evidence_url, timeout=5.0)
                async for submit_url in serve(harness.app):
                    portal_app.state.portal.settings = portal_settings.model_copy(
                        update={"callback_url": f"{submit_url}/v1/portal/verdicts"}
                    )
                    harness.evidence, harness.portal_url, harness.portal_app, harness.clock = (
                        evidence,
                        portal_url,
                        portal_app,
                        clock,
                    )
                    try:
                        yield harness
                    finally:
                        await ctx.evidence.aclose()
                        await ctx.rate_limit.aclose()


def package_root(harness: Submit) -> Path:
    return Path(harness.settings.package_root)
