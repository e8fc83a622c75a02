"""RFC 9457 problem details (`application/problem+json`) for every error a service answers.

Sellers' integrations and the operator console branch on one field, `code`, whatever went
wrong: our own `ProblemError`s, routing errors, validation errors and crashes alike.

Body members:

- ``type``: ``https://errors.dispute-desk.dev/<code>``, never ``about:blank``, so each
  code has a stable URI to document;
- ``title`` (short, fixed per code), ``status``, ``code``;
- ``detail`` (this occurrence), ``instance`` (the request path) and ``request_id``
  (quote it to support), each left out when unknown;
- any extension members, e.g. ``errors`` for validation failures. Extensions cannot
  override the members above.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.tracing import current_request_id, current_traceparent, trace_scope

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_TYPE_BASE",
    "ProblemError",
    "install_problem_handlers",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://errors.dispute-desk.dev/"

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}

log = structlog.get_logger(__name__)


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem; `code` is the contract.

    `headers` go on the response (``WWW-Authenticate``, ``Retry-After``); any other keyword
    becomes an extension member of the body, so it must be JSON-serialisable.
    """

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(f"{status} {code}: {detail or title}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


def _title_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A problem+json response; `request_id` is taken from the current trace scope."""
    body: dict[str, Any] = jsonable_encoder(extensions)
    body.update(type=f"{PROBLEM_TYPE_BASE}{code}", title=title, status=status, code=code)
    optional = {"detail": detail, "instance": instance, "request_id": current_request_id()}
    body.update({key: value for key, value in optional.items() if value is not None})
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extensions,
    )


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    title = _title_for(status)
    extensions: dict[str, Any] = {}
    detail: str | None = None
    if isinstance(exc.detail, str):
        # Starlette's default detail is the reason phrase again; don't say it twice.
        detail = exc.detail if exc.detail != title else None
    elif exc.detail is not None:
        extensions["context"] = exc.detail
    return problem_response(
        status,
        _CODES_BY_STATUS.get(status, f"http_{status}"),
        title,
        detail,
        instance=request.url.path,
        headers=exc.headers,  # Allow on 405, WWW-Authenticate on 401, ...
        **extensions,
    )


def _field_of(loc: tuple[int | str, ...] | list[int | str]) -> str:
    return ".".join(str(part) for part in loc)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only loc/msg/type: pydantic's `input` echoes the payload (personal data, bytes) and
    # its `ctx` may hold exception objects that are not JSON.
    errors = [
        {
            "field": _field_of(error.get("loc", ())),
            "message": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]
    count = len(errors)
    return problem_response(
        422,
        "validation_error",
        "Request validation failed",
        f"{count} field{'s' if count != 1 else ''} failed validation.",
        instance=request.url.path,
        errors=errors,
    )


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    # Starlette calls this from its outermost middleware, after RequestContextMiddleware
    # has left its trace scope; that middleware left the ids in request.state for us.
    state = request.scope.get("state") or {}
    traceparent = current_traceparent() or state.get("traceparent")
    request_id = current_request_id() or state.get("request_id")
    with trace_scope(traceparent, request_id):
        log.error(
            "unhandled_exception",
            method=request.method,
            path=request.url.path,
            error_type=type(exc).__name__,
            exc_info=exc,
        )
        headers = {"x-request-id": request_id, "traceparent": traceparent}
        return problem_response(
            500,
            "internal_error",
            "Internal Server Error",
            "Something went wrong on our side. Quote the request id to support if it persists.",
            instance=request.url.path,
            headers={key: value for key, value in headers.items() if value},
        )


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of `app` as problem+json (see the module docstring)."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unhandled)
