"""Per-request context: a request id and a W3C trace for every HTTP request.

A pure ASGI middleware rather than `BaseHTTPMiddleware`: the latter runs the endpoint in
another task, so context variables set around it do not reach the endpoint, and it
buffers streaming responses.

Add it last (`app.add_middleware(RequestContextMiddleware)`) so it wraps the others and
their log lines carry the ids too.
"""

from __future__ import annotations

import re
from uuid import uuid4

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.tracing import child_of, parse_traceparent, trace_scope

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


class RequestContextMiddleware:
    """Run each request in a `trace_scope` and name both ids on the response.

    - ``x-request-id``: the caller's if sane, else a new uuid4 hex;
    - ``traceparent``: a child of the caller's if valid (same trace, our own span id), else
      a new trace. The response carries ours, so a caller can find our log lines.

    Both are also put in ``request.state`` (``request_id``, ``traceparent``) for code that
    runs outside the scope, i.e. Starlette's handler for unhandled exceptions.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan has no request
            await self.app(scope, receive, send)
            return

        headers = Headers(scope=scope)
        request_id = _request_id_from(headers)
        traceparent = child_of(parse_traceparent(headers.get(TRACEPARENT_HEADER)))
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["traceparent"] = traceparent

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers[REQUEST_ID_HEADER] = request_id
                response_headers[TRACEPARENT_HEADER] = traceparent
            await send(message)

        with trace_scope(traceparent, request_id):
            await self.app(scope, receive, send_with_ids)
