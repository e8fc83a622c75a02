"""The http portal client against the simulator on an ephemeral loopback port (uvicorn in this event loop).

Receipts, idempotent resubmits, retries under 429 and 500, a bad signature, a bad hash, a lost response
reconciled by a status query, and a verdict callback verified with standardwebhooks.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from standardwebhooks import Webhook

from services.portal_sim.main import create_app
from services.portal_sim.settings import DEV_ACCESS_KEY, DEV_SECRET_KEY, DEV_WEBHOOK_SECRET, Settings, VerdictRule
from services.submit.portal.base import PackageUpload, PortalRejected, PortalUnavailable
from services.submit.portal.http import HttpPortal
from shared.backoff import Backoff
from shared.portal_signing import authorization


async def serve(app: FastAPI) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off"))
    server.config.timeout_graceful_shutdown = 1
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # up to 5 s for the socket to listen
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


@pytest.fixture
async def verdicts() -> AsyncIterator[tuple[str, list[dict]]]:
    received: list[dict] = []
    app = FastAPI()

    @app.post("/v1/portal/verdicts")
    async def verdict(request: Request) -> dict:
        body = await request.body()
        Webhook(DEV_WEBHOOK_SECRET).verify(body, dict(request.headers))  # raises on a bad signature
        received.append({"id": request.headers["webhook-id"], **json.loads(body)})
        return {}

    async for url in serve(app):
        yield url, received


@pytest.fixture
async def portal(verdicts) -> AsyncIterator[tuple[str, FastAPI]]:
    callback_url, _ = verdicts
    app = create_app(
        Settings(
            callback_url=f"{callback_url}/v1/portal/verdicts",
            default_verdict=VerdictRule(outcome="won", delay_s=0.05),
        )
    )
    async for url in serve(app):
        yield url, app


class SleepLog:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(url: str, *, sleep: SleepLog | None = None, secret: str = DEV_SECRET_KEY, **kw) -> HttpPortal:
    return HttpPortal(
        url,
        vendor_id="V1",
        access_key=DEV_ACCESS_KEY,
        secret_key=secret,
        backoff=Backoff(base_s=0.01, cap_s=0.05),
        sleep=sleep or SleepLog(),
        **kw,
    )


def make_zip(tmp_path: Path, *, tamper: bool = False) -> PackageUpload:
    data = b"%PDF-1.4 letter"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("D-1_01_cover_letter.pdf", data + (b"!" if tamper else b""))
        manifest = {"files": [{"name": "D-1_01_cover_letter.pdf", "sha256": hashlib.sha256(data).hexdigest()}]}
        zf.writestr("manifest.json", json.dumps(manifest))
    path = tmp_path / ("bad.zip" if tamper else "p.zip")
    path.write_bytes(buffer.getvalue())
    return PackageUpload("D-1", "V1", path, hashlib.sha256(buffer.getvalue()).hexdigest(), len(buffer.getvalue()))


async def fault(url: str, **body) -> None:
    async with httpx.AsyncClient(base_url=url) as admin:
        (await admin.post("/admin/faults", json=body)).raise_for_status()


async def test_a_package_gets_a_receipt_and_the_same_key_gets_the_same_one(portal, tmp_path):
    url, app = portal
    upload = make_zip(tmp_path)
    http = client(url)
    first = await http.submit(upload, idempotency_key="k-1")
    again = await http.submit(upload, idempotency_key="k-1")
    assert first == again and first.receipt_id.startswith("RCPT-") and first.package_sha256 == upload.sha256
    assert len(app.state.portal.packages) == 1
    other = await http.submit(upload, idempotency_key="k-2")
    assert other.receipt_id != first.receipt_id
    await http.aclose()


async def test_the_same_key_with_another_package_is_refused(portal, tmp_path):
    url, _ = portal
    http = client(url)
    await http.submit(make_zip(tmp_path), idempotency_key="k-1")
    with pytest.raises(PortalRejected, match="idempotency_key_reused") as refused:
        await http.submit(make_zip(tmp_path, tamper=True), idempotency_key="k-1")
    assert refused.value.status == 422
    await http.aclose()


async def test_429_is_retried_after_the_portals_retry_after_and_500_with_backoff(portal, tmp_path):
    url, app = portal
    sleep = SleepLog()
    http = client(url, sleep=sleep)
    await fault(url, fault="429", times=2, retry_after_s=7)
    await fault(url, fault="500", times=1)
    receipt = await http.submit(make_zip(tmp_path), idempotency_key="k-1")
    assert receipt.receipt_id and len(app.state.portal.packages) == 1
    assert sleep.waits[:2] == [7.0, 7.0]  # Retry-After, as the portal said
    assert len(sleep.waits) == 3 and 0 <= sleep.waits[2] <= 0.04  # then the backoff: 3rd attempt ceiling
    await http.aclose()


async def test_retries_that_run_out_are_portal_unavailable(portal, tmp_path):
    url, app = portal
    await fault(url, fault="500", times=5)
    http = client(url, max_attempts=3)
    with pytest.raises(PortalUnavailable, match="HTTP 500"):
        await http.submit(make_zip(tmp_path), idempotency_key="k-1")
    assert app.state.portal.packages == {}
    await http.aclose()


async def test_a_bad_signature_is_401_with_its_reason(portal, tmp_path):
    url, app = portal
    http = client(url, secret="not-the-secret")
    with pytest.raises(PortalRejected, match="signature does not match") as refused:
        await http.submit(make_zip(tmp_path), idempotency_key="k-1")
    assert refused.value.status == 401 and app.state.portal.packages == {}
    await http.aclose()


async def test_a_file_that_is_not_its_manifest_hash_is_422_naming_it(portal, tmp_path):
    url, app = portal
    upload = make_zip(tmp_path, tamper=True)
    path = "/v1/vendors/V1/disputes/D-1/packages"
    async with httpx.AsyncClient(base_url=url) as raw:
        headers = {
            "Authorization": authorization(DEV_ACCESS_KEY, DEV_SECRET_KEY, "POST", path, "", datetime.now(UTC)),
            "X-Requested-By": "V1",
            "Idempotency-Key": "k-1",
        }
        answer = await raw.post(path, content=upload.path.read_bytes(), headers=headers)
    assert answer.status_code == 422 and answer.json()["file"] == "D-1_01_cover_letter.pdf"
    assert answer.json()["code"] == "hash_mismatch" and app.state.portal.packages == {}
    http = client(url)
    with pytest.raises(PortalRejected, match="hash_mismatch"):
        await http.submit(upload, idempotency_key="k-2")
    await http.aclose()


async def test_a_lost_response_is_reconciled_by_a_status_query_and_a_retry_gets_the_same_receipt(portal, tmp_path):
    url, app = portal
    upload = make_zip(tmp_path)
    await fault(url, fault="lose_response", delay_s=1.0)
    once = client(url, max_attempts=1, timeout_s=0.2)
    with pytest.raises(PortalUnavailable, match="Timeout"):
        await once.submit(upload, idempotency_key="k-1")
    assert (await once.status("V1", "D-1", idempotency_key="k-2")).receipt is None
    status = await once.status("V1", "D-1", idempotency_key="k-1")
    assert status.receipt is not None and status.receipt.package_sha256 == upload.sha256
    assert (await client(url).submit(upload, idempotency_key="k-1")) == status.receipt
    assert len(app.state.portal.packages) == 1
    await once.aclose()


async def test_a_timeout_is_retried_with_the_same_key(portal, tmp_path):
    url, app = portal
    await fault(url, fault="timeout", delay_s=1.0)
    http = client(url, timeout_s=0.2)
    receipt = await http.submit(make_zip(tmp_path), idempotency_key="k-1")
    assert [p.receipt_id for p in app.state.portal.packages.values()] == [receipt.receipt_id]
    await http.aclose()


async def test_the_verdict_is_called_back_signed_and_a_duplicate_keeps_its_id(portal, verdicts, tmp_path):
    url, app = portal
    _, received = verdicts
    await fault(url, fault="duplicate_callback")
    async with httpx.AsyncClient(base_url=url) as admin:
        await admin.post("/admin/verdict-rules", json={"dispute_id": "D-1", "outcome": "lost", "delay_s": 0.05})
    http = client(url)
    receipt = await http.submit(make_zip(tmp_path), idempotency_key="k-1")
    for _ in range(100):
        if len(received) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(received) == 2 and received[0] == received[1]  # the same webhook-id: the receiver dedups
    assert received[0]["data"]["receipt_id"] == receipt.receipt_id and received[0]["data"]["outcome"] == "lost"
    status = await http.status("V1", "D-1", idempotency_key="k-1")
    assert (status.state, status.outcome) == ("decided", "lost")
    await http.aclose()
