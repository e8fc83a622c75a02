"""The `http` adapter: the dispute portal's HTTP API, signed like Coupang's Open API (CEA HMAC-SHA256).

- Every try is signed afresh (a new signed-date) and carries `X-Requested-By: <vendor id>` and the
  same `Idempotency-Key`, so a retry can never make a second submission.
- Each try has a timeout (`timeout_s`); a timeout, a connection error, 429 and 5xx are retried up to
  `max_attempts` tries, waiting `Retry-After` when the portal sends one (seconds or an HTTP date, at
  most `max_wait_s`) and otherwise the shared backoff (exponential, full jitter, capped).
- Any other 4xx is `PortalRejected` at once. Running out of tries is `PortalUnavailable`: whether
  the portal stored the package is then unknown, and `status(...)` answers it.
- The package is streamed from its file on every try (Content-Length set), never read whole.

Endpoints (the simulator's, services/portal_sim/README.md):
`POST /v1/vendors/{vendor}/disputes/{dispute}/packages` (body: the ZIP) and
`GET  /v1/vendors/{vendor}/disputes/{dispute}/packages?idempotency_key=...`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from services.submit.portal.base import PackageUpload, PortalRejected, PortalStatus, PortalUnavailable, Receipt
from services.submit.portal.signing import authorization
from shared.backoff import Backoff
from shared.clock import Clock, SystemClock

CHUNK = 1 << 20
RETRIED = {429, 500, 502, 503, 504}


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from now (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (at - now).total_seconds()) if at.tzinfo else None


async def _stream(path: Path) -> AsyncIterator[bytes]:
    source = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(source.read, CHUNK):
            yield chunk
    finally:
        source.close()


class HttpPortal:
    def __init__(
        self,
        base_url: str,
        *,
        vendor_id: str,
        access_key: str,
        secret_key: str,
        clock: Clock | None = None,
        timeout_s: float = 10.0,
        max_attempts: int = 5,
        backoff: Backoff | None = None,
        max_wait_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.vendor_id = vendor_id
        self._access_key, self._secret_key = access_key, secret_key
        self._clock = clock or SystemClock()
        self._max_attempts = max_attempts
        self._backoff = backoff or Backoff(base_s=0.5, cap_s=8.0)
        self._max_wait_s = max_wait_s
        self._sleep = sleep
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _path(self, dispute_id: str) -> str:
        return f"/v1/vendors/{quote(self.vendor_id, safe='')}/disputes/{quote(dispute_id, safe='')}/packages"

    def _headers(self, method: str, path: str, query: str, extra: dict[str, str]) -> dict[str, str]:
        auth = authorization(self._access_key, self._secret_key, method, path, query, self._clock.now())
        return {"Authorization": auth, "X-Requested-By": self.vendor_id, **extra}

    async def _call(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: dict[str, str] | None = None,
        body: Callable[[], AsyncIterator[bytes]] | None = None,
        ok: frozenset[int] = frozenset({200, 201}),
    ) -> httpx.Response:
        reason = "no try made"
        for attempt in range(1, self._max_attempts + 1):
            wait: float | None = None
            try:
                response = await self._client.request(
                    method,
                    path + (f"?{query}" if query else ""),
                    headers=self._headers(method, path, query, headers or {}),
                    content=None if body is None else body(),
                )
            except httpx.TransportError as error:  # timeouts, refused, reset: the outcome is unknown
                reason = f"{type(error).__name__}"
            else:
                if response.status_code in ok:
                    return response
                if response.status_code not in RETRIED:
                    raise PortalRejected(_reason(response), status=response.status_code)
                reason = f"HTTP {response.status_code}"
                wait = retry_after_s(response.headers.get("retry-after"), self._clock.now())
            if attempt < self._max_attempts:
                await self._sleep(min(self._max_wait_s, wait if wait is not None else self._backoff.delay(attempt)))
        raise PortalUnavailable(f"no answer after {self._max_attempts} tries: {reason}")

    async def submit(self, upload: PackageUpload, *, idempotency_key: str) -> Receipt:
        response = await self._call(
            "POST",
            self._path(upload.dispute_id),
            headers={
                "Idempotency-Key": idempotency_key,
                "Content-Type": "application/zip",
                "Content-Length": str(upload.size),
                "X-Package-Sha256": upload.sha256,
            },
            body=lambda: _stream(upload.path),
        )
        receipt = _receipt(response.json())
        if receipt.package_sha256 != upload.sha256:
            raise PortalRejected("the portal holds another package under this idempotency key")
        return receipt

    async def status(self, seller_id: str, dispute_id: str, *, idempotency_key: str) -> PortalStatus:
        query = urlencode({"idempotency_key": idempotency_key})
        response = await self._call("GET", self._path(dispute_id), query=query, ok=frozenset({200, 404}))
        if response.status_code == 404:
            return PortalStatus(None, "unknown")
        body = response.json()
        return PortalStatus(_receipt(body), body["state"], body.get("outcome"))


def _receipt(body: dict[str, Any]) -> Receipt:
    received_at = datetime.fromisoformat(body["received_at"]).astimezone(UTC)
    return Receipt(str(body["receipt_id"]), received_at, str(body["package_sha256"]))


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        return f"{body.get('code', response.status_code)}: {body.get('detail', '')}".strip(": ")
    return f"HTTP {response.status_code}"
