"""Per-request context: a request id and a trace span for every HTTP request.

A pure ASGI middleware rather than `BaseHTTPMiddleware`: the latter runs the endpoint in
another task, so context variables set around it do not reach the endpoint, and it
buffers streaming responses.

Add it last (`app.add_middleware(RequestContextMiddleware)`) so it wraps the others and
their log lines carry the ids too. With `shared.tracing.instrument_app(app)` the FastAPI
instrumentation opens the server span outside every middleware; without it (no
`instrument_app`, or nothing collects spans so it was not installed), this middleware opens
one itself (`shared.tracing.server_span`), so a request always has a trace.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

from opentelemetry import trace
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.tracing import current_traceparent, request_scope, server_span

__all__ = ["REQUEST_ID_HEADER", "TRACEPARENT_HEADER", "RequestContextMiddleware"]

REQUEST_ID_HEADER = "x-request-id"
TRACEPARENT_HEADER = "traceparent"

# A caller's id is echoed into our logs and headers: take it only if it is a plain token.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def _request_id_from(headers: Headers) -> str:
    offered = headers.get(REQUEST_ID_HEADER)
    if offered is not None and _SANE_REQUEST_ID.fullmatch(offered):
        return offered
    return uuid4().hex


@contextmanager
def _server_span(scope: Scope, headers: Headers) -> Iterator[None]:
    if trace.get_current_span().is_recording():  # the FastAPI instrumentation's server span
        yield
        return
    with server_span(headers, scope.get("method", "WEBSOCKET"), scope.get("path", "")):  # the caller's, if valid
        yield


class RequestContextMiddleware:
    """Run each request in its server span and request id, and name both on the response.

    - ``x-request-id``: the caller's if sane, else a new uuid4 hex;
    - ``traceparent``: our server span, a child of the caller's ``traceparent`` if valid
      (same trace, our own span id), else the root of a new trace. The response carries it,
      so a caller can find our log lines and spans.

    Both are also put in ``request.state`` (``request_id``, ``traceparent``) for code that
    runs outside this middleware, i.e. Starlette's handler for unhandled exceptions.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan has no request
            await self.app(scope, receive, send)
            return

        headers = Headers(scope=scope)
        request_id = _request_id_from(headers)
        with request_scope(request_id), _server_span(scope, headers):
            traceparent = current_traceparent()
            state = scope.setdefault("state", {})
            state["request_id"] = request_id
            state["traceparent"] = traceparent

            async def send_with_ids(message: Message) -> None:
                if message["type"] == "http.response.start":
                    response_headers = MutableHeaders(scope=message)
                    response_headers[REQUEST_ID_HEADER] = request_id
                    if traceparent:
                        response_headers[TRACEPARENT_HEADER] = traceparent
                await send(message)

            await self.app(scope, receive, send_with_ids)
