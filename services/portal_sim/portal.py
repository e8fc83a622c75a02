"""The simulated portal: CEA-checked package intake, receipts, status, verdict callbacks, faults on demand.

State lives in memory (one process, development and tests only); `PortalState` is on `app.state.portal`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from standardwebhooks import Webhook

from services.portal_sim.settings import Settings, VerdictRule
from shared.portal_signing import SignatureInvalid, verify

log = structlog.get_logger("portal_sim")

FaultKind = Literal["429", "500", "timeout", "lose_response", "duplicate_callback"]


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fault: FaultKind
    times: int = Field(default=1, ge=1)
    retry_after_s: int = Field(default=1, ge=0)  # for 429
    delay_s: float = Field(default=2.0, ge=0)  # for timeout and lose_response: how long the answer hangs


@dataclass
class Package:
    vendor_id: str
    dispute_id: str
    idempotency_key: str
    receipt_id: str
    received_at: datetime
    sha256: str
    files: list[str]
    state: Literal["received", "decided"] = "received"
    outcome: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "receipt_id": self.receipt_id,
            "received_at": self.received_at.isoformat(),
            "package_sha256": self.sha256,
            "dispute_id": self.dispute_id,
            "state": self.state,
            "outcome": self.outcome,
            "files": self.files,
        }


@dataclass
class PortalState:
    settings: Settings
    packages: dict[tuple[str, str], Package] = field(default_factory=dict)  # (vendor, key)
    faults: list[Fault] = field(default_factory=list)
    rules: list[VerdictRule] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    callbacks_sent: int = 0

    def take_fault(self, *kinds: str) -> Fault | None:
        for fault in self.faults:
            if fault.fault in kinds:
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def rule_for(self, package: Package) -> VerdictRule:
        rules = [*self.rules, *self.settings.verdict_rules]
        for rule in rules:
            if rule.dispute_id == package.dispute_id:
                return rule
        for rule in rules:
            if rule.dispute_id is None and rule.seller_id == package.vendor_id:
                return rule
        return self.settings.default_verdict


def problem(status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": f"https://errors.dispute-desk.dev/{code}", "title": code, "status": status, "code": code}
    return JSONResponse(
        {**body, "detail": detail, **extra}, status_code=status, media_type="application/problem+json", headers=headers
    )


def _state(request: Request) -> PortalState:
    state: PortalState = request.app.state.portal
    return state


def _authenticate(request: Request, vendor_id: str) -> JSONResponse | None:
    state = _state(request)
    path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?")[0]
    query = request.scope.get("query_string", b"").decode("latin-1")
    try:
        verify(
            request.headers.get("authorization"),
            state.settings.access_keys,
            request.method,
            path,
            query,
            now=datetime.now(UTC),
            max_skew=timedelta(seconds=state.settings.max_clock_skew_s),
        )
    except SignatureInvalid as error:
        return problem(401, "signature_invalid", error.reason)
    if request.headers.get("x-requested-by") != vendor_id:
        return problem(401, "signature_invalid", "X-Requested-By does not name the vendor of the path")
    return None


def _check_zip(body: bytes) -> tuple[list[str], JSONResponse | None]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(body))
        manifest = json.loads(zf.read("manifest.json"))
        listed = {entry["name"]: entry["sha256"] for entry in manifest["files"]}
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError):
        return [], problem(422, "package_invalid", "not a ZIP with a manifest.json listing files[].name and sha256")
    names = sorted(set(zf.namelist()) - {"manifest.json"})
    for name in sorted(set(names) | set(listed)):
        if name not in listed or name not in names:
            return [], problem(422, "hash_mismatch", f"{name} is not both listed and present", file=name)
        if hashlib.sha256(zf.read(name)).hexdigest() != listed[name]:
            return [], problem(422, "hash_mismatch", f"{name} does not match its manifest sha256", file=name)
    return names, None


async def _send_verdict(state: PortalState, package: Package, rule: VerdictRule, copies: int) -> None:
    await asyncio.sleep(rule.delay_s)
    package.state, package.outcome = "decided", rule.outcome
    url = state.settings.callback_url
    if not url:  # unset or empty: decided, polled only
        return
    decided_at = datetime.now(UTC)
    payload = json.dumps(
        {
            "type": "verdict.returned",
            "data": {
                "receipt_id": package.receipt_id,
                "dispute_id": package.dispute_id,
                "vendor_id": package.vendor_id,
                "outcome": rule.outcome,
                "amount": None if rule.amount_value is None else {"value": rule.amount_value, "currency": "KRW"},
                "policy_clause": rule.policy_clause,
                "decided_at": decided_at.isoformat(),
            },
        },
        ensure_ascii=False,
    )
    msg_id = f"msg_{package.receipt_id}"  # one id per verdict: a duplicate delivery is recognisable
    async with httpx.AsyncClient(timeout=5.0) as client:
        for _ in range(copies):
            for attempt in range(state.settings.callback_attempts):
                signature = Webhook(state.settings.webhook_secret).sign(msg_id, decided_at, payload)
                headers = {
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(int(decided_at.timestamp())),
                    "webhook-signature": signature,
                    "content-type": "application/json",
                }
                try:
                    response = await client.post(url, content=payload.encode(), headers=headers)
                    if response.status_code < 500:
                        state.callbacks_sent += 1
                        break
                except httpx.TransportError:
                    pass
                log.warning("verdict_callback_failed", receipt_id=package.receipt_id, attempt=attempt + 1)
                await asyncio.sleep(1.0)


def router() -> APIRouter:
    api = APIRouter()

    @api.post("/v1/vendors/{vendor_id}/disputes/{dispute_id}/packages")
    async def submit_package(vendor_id: str, dispute_id: str, request: Request) -> JSONResponse:
        refused = _authenticate(request, vendor_id)
        if refused is not None:
            return refused
        state = _state(request)
        fault = state.take_fault("429", "500", "timeout")
        if fault is not None and fault.fault == "429":
            return problem(429, "rate_limited", "injected fault", headers={"Retry-After": str(fault.retry_after_s)})
        if fault is not None and fault.fault == "500":
            return problem(500, "internal_error", "injected fault")
        if fault is not None:
            await asyncio.sleep(fault.delay_s)
            return problem(504, "timeout", "injected timeout")
        key = request.headers.get("idempotency-key")
        if not key:
            return problem(400, "idempotency_key_required", "Idempotency-Key is required")
        body = await request.body()
        sha256 = hashlib.sha256(body).hexdigest()
        claimed = request.headers.get("x-package-sha256")
        if claimed is not None and claimed != sha256:
            return problem(422, "package_hash_mismatch", "X-Package-Sha256 is not the body's sha256")
        existing = state.packages.get((vendor_id, key))
        if existing is not None:
            if existing.sha256 != sha256 or existing.dispute_id != dispute_id:
                return problem(422, "idempotency_key_reused", "this Idempotency-Key was used for another package")
            return JSONResponse(existing.as_json(), status_code=200)
        files, invalid = _check_zip(body)
        if invalid is not None:
            return invalid
        package = Package(
            vendor_id, dispute_id, key, f"RCPT-{uuid.uuid4().hex[:12].upper()}", datetime.now(UTC), sha256, files
        )
        state.packages[(vendor_id, key)] = package
        copies = 2 if state.take_fault("duplicate_callback") else 1
        task = asyncio.create_task(_send_verdict(state, package, state.rule_for(package), copies))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
        lost = state.take_fault("lose_response")
        if lost is not None:
            await asyncio.sleep(lost.delay_s)  # stored, but the caller has given up by now
        return JSONResponse(package.as_json(), status_code=201)

    @api.get("/v1/vendors/{vendor_id}/disputes/{dispute_id}/packages")
    async def package_status(vendor_id: str, dispute_id: str, idempotency_key: str, request: Request) -> JSONResponse:
        refused = _authenticate(request, vendor_id)
        if refused is not None:
            return refused
        package = _state(request).packages.get((vendor_id, idempotency_key))
        if package is None or package.dispute_id != dispute_id:
            return problem(404, "package_not_found", "no package under this idempotency key")
        return JSONResponse(package.as_json())

    @api.post("/admin/faults", status_code=204)
    async def add_fault(fault: Fault, request: Request) -> None:
        _state(request).faults.append(fault)

    @api.delete("/admin/faults", status_code=204)
    async def clear_faults(request: Request) -> None:
        _state(request).faults.clear()

    @api.post("/admin/verdict-rules", status_code=204)
    async def add_rule(rule: VerdictRule, request: Request) -> None:
        _state(request).rules.insert(0, rule)

    return api
