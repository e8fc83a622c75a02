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

Domain errors (`shared.errors.DomainError`, raised by code that Kafka handlers run too) become
problems through one table per service, handed to `create_service_app(..., errors=ERRORS)`::

    ERRORS: ProblemTable = {CaseNotFound: Problem(404, "case_not_found", "Case not found")}

A table row for a base class covers its subclasses (the nearest row wins). The refusals of
`shared/` itself (`SHARED_PROBLEMS`: `NotFound` 404 `not_found`, `InvalidCursor` 400
`invalid_cursor`) are rows of every service's table; a service's own rows come after them. A `DomainError`
with no row answers 422 with the error's own `code` and the title "Request refused", and is
logged as ``unmapped_domain_error``: it is still a refusal of the request (a 4xx, so a sender
does not retry it forever), and the missing row shows up in the logs.

A pydantic `ValidationError` raised inside a route (a body parsed after the signature was
checked) answers 422 ``validation_error`` exactly like a `RequestValidationError`; neither
echoes the input values.

Something the request needs being away is not a refusal: PostgreSQL unreachable answers 503
``database_unavailable``, and a `shared.errors.Unavailable` (the blob store: unreachable, or refusing
our credentials) 503 with its own ``code`` (``blob_store_unavailable``), both with ``Retry-After``,
logged as a warning, never a 500 with a traceback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeAlias

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.db.errors import is_connection_error
from shared.errors import DomainError, InvalidCursor, NotFound, Unavailable
from shared.tracing import current_request_id, current_traceparent, trace_scope

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_TYPE_BASE",
    "Problem",
    "ProblemError",
    "ProblemTable",
    "SHARED_PROBLEMS",
    "problem_for",
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


@dataclass(frozen=True, slots=True)
class Problem:
    """How one kind of `DomainError` answers over HTTP: a row of a service's `ProblemTable`."""

    status: int
    code: str
    title: str

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"a problem answers a 4xx or 5xx status, not {self.status}")


ProblemTable: TypeAlias = Mapping[type[DomainError], Problem]

# The refusals of shared/ (shared/errors.py), answered alike by every service.
SHARED_PROBLEMS: ProblemTable = {
    NotFound: Problem(404, "not_found", "Not Found"),
    InvalidCursor: Problem(400, "invalid_cursor", "Invalid cursor"),
}

# A refusal nobody put in the table (see the module docstring).
_UNMAPPED_STATUS = 422
_UNMAPPED_TITLE = "Request refused"


def problem_for(table: ProblemTable, error: DomainError) -> Problem | None:
    """The row for `error`'s class, or the nearest base class's; None when there is none."""
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return None


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
    return _problem(status, code, title, detail, instance=instance, headers=headers, extensions=extensions)


def _problem(
    status: int,
    code: str,
    title: str,
    detail: str | None,
    *,
    instance: str | None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any],
) -> JSONResponse:
    body: dict[str, Any] = jsonable_encoder(dict(extensions))
    body.update(type=f"{PROBLEM_TYPE_BASE}{code}", title=title, status=status, code=code)
    optional = {"detail": detail, "instance": instance, "request_id": current_request_id()}
    body.update({key: value for key, value in optional.items() if value is not None})
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return _problem(
        exc.status,
        exc.code,
        exc.title,
        exc.detail,
        instance=request.url.path,
        headers=exc.headers,
        extensions=exc.extensions,
    )


def _domain_error_handler(table: ProblemTable) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        problem = problem_for(table, exc)
        if problem is None:
            log.warning("unmapped_domain_error", error_type=type(exc).__name__, code=exc.code, path=request.url.path)
            problem = Problem(_UNMAPPED_STATUS, exc.code, _UNMAPPED_TITLE)
        return _problem(
            problem.status, problem.code, problem.title, exc.detail, instance=request.url.path, extensions=exc.data
        )

    return on_domain_error


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


def _validation_problem(request: Request, errors: Iterable[Mapping[str, Any]]) -> JSONResponse:
    # Only loc/msg/type: pydantic's `input` echoes the payload (personal data, bytes) and
    # its `ctx` may hold exception objects that are not JSON.
    members = [
        {
            "field": _field_of(error.get("loc", ())),
            "message": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ]
    count = len(members)
    return problem_response(
        422,
        "validation_error",
        "Request validation failed",
        f"{count} field{'s' if count != 1 else ''} failed validation.",
        instance=request.url.path,
        errors=members,
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _validation_problem(request, exc.errors())


async def _on_model_validation_error(request: Request, exc: Exception) -> JSONResponse:
    # A model validated inside the route (e.g. a body read raw for its signature, then parsed).
    assert isinstance(exc, ValidationError)
    return _validation_problem(request, exc.errors(include_url=False, include_context=False, include_input=False))


async def _on_unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Unavailable)
    cause = exc.__cause__
    log.warning(
        "dependency_unavailable",
        code=exc.code,
        method=request.method,
        path=request.url.path,
        error_type=type(cause).__name__ if cause is not None else type(exc).__name__,
        error=exc.reason,
    )
    return problem_response(
        503, exc.code, exc.title, exc.detail, instance=request.url.path, headers={"Retry-After": "1"}
    )


async def _on_unhandled(request: Request, exc: Exception) -> JSONResponse:
    # Starlette calls this from its outermost middleware, after RequestContextMiddleware
    # has left its trace scope; that middleware left the ids in request.state for us.
    state = request.scope.get("state") or {}
    traceparent = current_traceparent() or state.get("traceparent")
    request_id = current_request_id() or state.get("request_id")
    with trace_scope(traceparent, request_id):
        headers = {"x-request-id": request_id, "traceparent": traceparent}
        if is_connection_error(exc):
            # PostgreSQL restarting or away: nothing was saved, and a retry in a moment is the answer
            # (seen under `make chaos`: 500s with tracebacks while the database restarted).
            error_type = type(exc).__name__
            log.warning("database_unavailable", method=request.method, path=request.url.path, error_type=error_type)
            return problem_response(
                503,
                "database_unavailable",
                "Database unavailable",
                "The database could not be reached; nothing was saved. Retry in a moment.",
                instance=request.url.path,
                headers={"Retry-After": "1", **{key: value for key, value in headers.items() if value}},
            )
        log.error(
            "unhandled_exception",
            method=request.method,
            path=request.url.path,
            error_type=type(exc).__name__,
            exc_info=exc,
        )
        return problem_response(
            500,
            "internal_error",
            "Internal Server Error",
            "Something went wrong on our side. Quote the request id to support if it persists.",
            instance=request.url.path,
            headers={key: value for key, value in headers.items() if value},
        )


def install_problem_handlers(app: FastAPI, errors: ProblemTable | None = None) -> None:
    """Answer every error of `app` as problem+json, domain errors through `errors` (module docstring)."""
    table = {**SHARED_PROBLEMS, **(errors or {})}
    for cls, problem in table.items():
        if not (isinstance(cls, type) and issubclass(cls, DomainError)) or not isinstance(problem, Problem):
            raise TypeError(f"a problem table maps DomainError subclasses to Problem rows, not {cls!r}: {problem!r}")
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(DomainError, _domain_error_handler(table))
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ValidationError, _on_model_validation_error)
    app.add_exception_handler(Unavailable, _on_unavailable)
    app.add_exception_handler(Exception, _on_unhandled)
