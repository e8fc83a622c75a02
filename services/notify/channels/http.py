"""The one outbound HTTP path of every HTTP channel: target checked again, pinned, bounded.

Before each request the URL is checked again (`targets.check_target`: DNS may have changed
since it was saved) and the request goes to the address that was checked, with the name kept
in the Host header and TLS's SNI and certificate check, so a second DNS answer cannot swap
in another address. Redirects are never followed (a 3xx is a failed attempt), the whole
exchange has one deadline (`total_timeout_s`, so a sink that drips bytes cannot hold the
dispatcher), and at most `max_response_bytes` of the answer are read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import httpx

from services.notify.errors import TargetRefused
from services.notify.retry import parse_retry_after
from services.notify.targets import Resolver, TargetPolicy, check_target, system_resolver
from shared.clock import Clock, SystemClock

USER_AGENT = "DisputeDesk-Notify/1.0"


@dataclass(frozen=True)
class HttpReply:
    status_code: int | None
    latency_ms: float
    body: bytes = b""
    error: str | None = None
    retry_after_s: float | None = None
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


class HttpSender:
    def __init__(
        self,
        policy: TargetPolicy,
        *,
        client: httpx.AsyncClient | None = None,
        resolve: Resolver = system_resolver,
        connect_timeout_s: float = 5.0,
        total_timeout_s: float = 10.0,
        max_response_bytes: int = 64 * 1024,
        max_connections: int = 100,
        clock: Clock | None = None,
    ) -> None:
        self.policy = policy
        self._resolve = resolve
        self._total_timeout_s = total_timeout_s
        self._max_response_bytes = max_response_bytes
        self._clock = clock or SystemClock()
        self._client = client or httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(total_timeout_s, connect=connect_timeout_s),
            # as many kept alive as may be open: a dispatcher sending a batch reuses them instead of reconnecting
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            trust_env=False,  # no proxy from the environment: the checked address is the one reached
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpReply:
        started = time.perf_counter()

        def elapsed() -> float:
            return (time.perf_counter() - started) * 1000

        try:
            target = await check_target(url, self.policy, self._resolve)
        except TargetRefused as refused:
            return HttpReply(None, elapsed(), error=refused.code)
        host_header = target.host if ":" not in target.host else f"[{target.host}]"
        if httpx.URL(url).port is not None:
            host_header += f":{target.port}"
        request = self._client.build_request(
            "POST",
            target.pinned_url(),
            content=body,
            headers={
                **headers,
                "Host": host_header,
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": USER_AGENT,
                "Accept-Encoding": "identity",  # the capped body is read raw
            },
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        try:
            async with asyncio.timeout(self._total_timeout_s):
                response = await self._client.send(request, stream=True)
                try:
                    received, truncated = await self._read_capped(response)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            return HttpReply(None, elapsed(), error="timeout")
        except httpx.HTTPError as exc:
            return HttpReply(None, elapsed(), error=f"transport_error: {type(exc).__name__}")
        except OSError as exc:
            return HttpReply(None, elapsed(), error=f"transport_error: {type(exc).__name__}")
        status = response.status_code
        error = None
        if 300 <= status < 400:
            error = "redirect_not_followed"
        elif not 200 <= status < 300:
            error = f"http_{status}"
        return HttpReply(
            status,
            elapsed(),
            body=received,
            error=error,
            retry_after_s=parse_retry_after(response.headers.get("retry-after"), self._now()),
            truncated=truncated,
        )

    async def _read_capped(self, response: httpx.Response) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size > self._max_response_bytes:
                return b"".join(chunks)[: self._max_response_bytes], True
        return b"".join(chunks), False

    def _now(self) -> datetime:
        return self._clock.now()
