"""The dashboard's one HTTP client of the five services, speaking with the signed-in token.

Ingest's own routes are called in process through httpx's ASGI transport (the same app, the same
auth, 404s and JSON as any caller gets, and no URL of its own to configure); the other four over
HTTP at `evidence_url`, `deadline_url`, `notify_url`, `submit_url`. A call either answers a typed
model, or raises `Unavailable` (the service is down, timed out or answered 5xx: its panel says so and
the rest of the page renders) or `Refused` (a 4xx problem: its `code` is the service's stable code).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
import structlog
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError

from services.ingest.dashboard import remote
from services.ingest.settings import Settings

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=BaseModel)


class Unavailable(Exception):
    def __init__(self, service: str, why: str) -> None:
        super().__init__(f"{service}: {why}")
        self.service = service


class Refused(Exception):
    """A 4xx problem from `service` (`code` is its stable problem code)."""

    def __init__(self, service: str, status: int, code: str, detail: str | None) -> None:
        super().__init__(f"{service} {status} {code}: {detail}")
        self.service, self.status, self.code, self.detail = service, status, code, detail

    @property
    def not_found(self) -> bool:
        # A malformed id (422 validation_error on a path) names no case either.
        return self.status == 404 or (self.status == 422 and self.code == "validation_error")


class Services:
    """`async with Services(settings, app, token) as services:` one page's calls, one connection pool."""

    def __init__(self, settings: Settings, app: FastAPI, token: str) -> None:
        self._urls = {
            "evidence": settings.evidence_url,
            "deadline": settings.deadline_url,
            "notify": settings.notify_url,
            "submit": settings.submit_url,
        }
        timeout = httpx.Timeout(settings.dashboard_timeout_s, connect=min(2.0, settings.dashboard_timeout_s))
        headers = {"Authorization": f"Bearer {token}"}
        self._remote = httpx.AsyncClient(timeout=timeout, headers=headers)
        self._ingest = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://ingest", timeout=timeout, headers=headers
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        try:
            await self._remote.aclose()
        finally:
            await self._ingest.aclose()

    # ------------------------------------------------------------------ plumbing

    async def _call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        content: AsyncIterator[bytes] | None = None,
    ) -> Any:
        client = self._ingest if service == "ingest" else self._remote
        url = path if service == "ingest" else self._urls[service].rstrip("/") + path
        try:
            answer = await client.request(method, url, params=params, json=json_body, headers=headers, content=content)
        except httpx.HTTPError as error:
            log.warning("dashboard_service_unavailable", service=service, path=path, error=type(error).__name__)
            raise Unavailable(service, type(error).__name__) from None
        if answer.status_code >= 500:
            log.warning("dashboard_service_error", service=service, path=path, status=answer.status_code)
            raise Unavailable(service, f"HTTP {answer.status_code}")
        if answer.status_code >= 400:
            problem = _problem(answer)
            raise Refused(service, answer.status_code, str(problem.get("code", "error")), problem.get("detail"))
        if answer.status_code == 204 or not answer.content:
            return None
        try:
            return answer.json()
        except json.JSONDecodeError:
            raise Unavailable(service, "not JSON") from None

    async def _get(self, service: str, path: str, model: type[M], **params: Any) -> M:
        body = await self._call(service, "GET", path, params={k: v for k, v in params.items() if v is not None})
        return _parse(service, model, body)

    # ------------------------------------------------------------------ ingest

    async def cases(
        self, *, statuses: list[str], reasons: list[str], cursor: str | None, limit: int
    ) -> remote.CaseList:
        params: dict[str, Any] = {"status": statuses or None, "reason_code": reasons or None}
        return await self._get("ingest", "/v1/cases", remote.CaseList, cursor=cursor, limit=limit, **params)

    async def case(self, dispute_id: str) -> remote.CaseDetail:
        return await self._get("ingest", f"/v1/cases/{_seg(dispute_id)}", remote.CaseDetail)

    async def buyer_risk(self, buyer_id: str, seller_id: str | None) -> remote.BuyerRisk:
        return await self._get("ingest", f"/v1/buyers/{_seg(buyer_id)}/risk", remote.BuyerRisk, seller_id=seller_id)

    async def statement(self, seller_id: str, month: str) -> remote.Statement:
        return await self._get("ingest", f"/v1/sellers/{_seg(seller_id)}/statement", remote.Statement, month=month)

    # ------------------------------------------------------------------ deadline

    async def deadline(self, dispute_id: str) -> remote.Deadline:
        return await self._get("deadline", f"/v1/deadlines/{_seg(dispute_id)}", remote.Deadline)

    # ------------------------------------------------------------------ evidence

    async def evidence(self, dispute_id: str) -> remote.EvidenceList:
        return await self._get("evidence", f"/v1/cases/{_seg(dispute_id)}/evidence", remote.EvidenceList)

    async def report(self, dispute_id: str, lang: str) -> remote.Report:
        return await self._get("evidence", f"/v1/cases/{_seg(dispute_id)}/report", remote.Report, lang=lang)

    async def check(self, dispute_id: str, lang: str) -> remote.Report:
        body = await self._call(
            "evidence", "POST", f"/v1/cases/{_seg(dispute_id)}/evidence/check", params={"lang": lang}
        )
        return _parse("evidence", remote.Report, body)

    async def templates(self, reason_code: str, lang: str) -> remote.Templates:
        return await self._get("evidence", "/v1/templates", remote.Templates, reason_code=reason_code, lang=lang)

    async def upload(self, dispute_id: str, body: AsyncIterator[bytes], headers: Mapping[str, str]) -> None:
        """Pass a multipart body through as it arrives (`body` yields the browser's chunks)."""
        await self._call("evidence", "POST", f"/v1/cases/{_seg(dispute_id)}/evidence", content=body, headers=headers)

    # ------------------------------------------------------------------ submit

    async def submission(self, dispute_id: str) -> remote.Submission:
        return await self._get("submit", f"/v1/cases/{_seg(dispute_id)}/submission", remote.Submission)

    async def submit(self, dispute_id: str, body: dict[str, Any], idempotency_key: str) -> remote.Submission:
        answer = await self._call(
            "submit",
            "POST",
            f"/v1/cases/{_seg(dispute_id)}/submit",
            json_body=body,
            headers={"Idempotency-Key": idempotency_key},
        )
        return _parse("submit", remote.Submission, answer)

    # ------------------------------------------------------------------ notify

    async def preferences(self, seller_id: str | None) -> dict[str, Any]:
        body = await self._call(
            "notify", "GET", "/v1/preferences", params={"seller_id": seller_id} if seller_id else None
        )
        if not isinstance(body, dict):
            raise Unavailable("notify", "not an object")
        return body


def _seg(value: str) -> str:
    """One path segment, percent-encoded (an id with `?` or `#` stays one id)."""
    return quote(value, safe="")


def _problem(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _parse(service: str, model: type[M], body: Any) -> M:
    try:
        return model.model_validate(body)
    except ValidationError:
        log.warning("dashboard_unexpected_answer", service=service, model=model.__name__)
        raise Unavailable(service, f"unexpected {model.__name__}") from None
