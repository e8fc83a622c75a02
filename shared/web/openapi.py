"""Each service's OpenAPI document as its clients meet it, and `/docs` served from our own assets.

FastAPI's document knows what a route's signature declares. Ours read more by hand (a signed raw
body, a streamed CSV, a streamed multipart form) and refuse with problems, not FastAPI's
`HTTPValidationError`. `install_openapi` builds the document from FastAPI's, then:

- every error response is the one shared `Problem` schema (`application/problem+json`), one
  response per status with the codes that status answers on that route (`code` is an enum), and
  FastAPI's `HTTPValidationError`/`ValidationError` are gone (its 422 is `validation_error`);
- routes that need a token get the bearer `securitySchemes` (so /docs has an Authorize button),
  with 401 (`missing_token`, `invalid_token`, `token_expired`), and 403 `forbidden` for
  operator-only routes; routes on a `DbSession` get 503 `commit_failed`;
- what each service declares in its docs-only module (`services/<name>/openapi.py`, a mapping
  of route name to `RouteDoc`): request bodies read by hand, header parameters, the domain errors
  the route may raise (their status and code come from the service's `ERRORS` table).

A `RouteDoc` key that names no route is an error at start-up, so a renamed route cannot leave its
documentation behind. `/docs` and `/redoc` load Swagger UI and ReDoc from the `fastapi-offline`
wheel's files, served under `/docs/assets/`, never from a CDN.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import fastapi.routing
import fastapi_offline
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import TypeAdapter

from shared.blobs import BlobStoreUnavailable
from shared.errors import DomainError
from shared.web.auth import current_principal, require_operator
from shared.web.db import request_session
from shared.web.problems import PROBLEM_MEDIA_TYPE, SHARED_PROBLEMS, Problem, ProblemTable, problem_for

__all__ = [
    "BAD_REQUEST",
    "BEARER",
    "BLOB_STORE_UNAVAILABLE",
    "COMMIT_FAILED",
    "FORBIDDEN",
    "NOT_FOUND",
    "PROBLEM_SCHEMA",
    "RouteDoc",
    "RouteDocs",
    "UNAUTHORIZED",
    "VALIDATION_ERROR",
    "header",
    "schema_of",
    "install_docs",
    "install_openapi",
]

BEARER = "bearerAuth"
DOCS_ASSETS = "/docs/assets"
_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"

# Problems answered by shared code (auth, the request transaction, FastAPI's own validation).
UNAUTHORIZED = (
    Problem(401, "missing_token", "Missing bearer token"),
    Problem(401, "invalid_token", "Invalid token"),
    Problem(401, "token_expired", "Token expired"),
)
FORBIDDEN = Problem(403, "forbidden", "Forbidden")
NOT_FOUND = Problem(404, "not_found", "Not Found")  # shared.errors.NotFound (another seller's data)
VALIDATION_ERROR = Problem(422, "validation_error", "Request validation failed")
BAD_REQUEST = Problem(400, "bad_request", "Bad Request")  # FastAPI: a JSON body that does not parse
COMMIT_FAILED = Problem(503, "commit_failed", "Change not saved")
# A route that stores or reads blobs (shared/blobs.py): the store away or refusing our credentials.
BLOB_STORE_UNAVAILABLE = Problem(503, BlobStoreUnavailable.code, BlobStoreUnavailable.title)

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": (
        "RFC 9457 problem details. Branch on `code`; `type` is https://errors.dispute-desk.dev/<code>. "
        "Other members are extensions of the code (e.g. `errors` for validation failures)."
    ),
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message", "type"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}

ErrorRef: TypeAlias = type[DomainError] | Problem


@dataclass(frozen=True)
class RouteDoc:
    """What one route reads and refuses beyond its signature (keyed by route name in a `RouteDocs`)."""

    errors: Sequence[ErrorRef] = ()
    request_body: Mapping[str, Any] | None = None  # an OpenAPI Request Body Object
    parameters: Sequence[Mapping[str, Any]] = ()  # OpenAPI Parameter Objects (headers)
    responses: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)  # non-problem answers (200 beside 202)
    components: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # schemas the body refers to
    example: Any = None  # for the JSON body FastAPI documents from the signature


def schema_of(tp: Any, name: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A pydantic type's JSON schema as `(reference to it, components it needs)`, for a body read by hand."""
    schema = TypeAdapter(tp).json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    defs[name] = schema
    return {"$ref": f"#/components/schemas/{name}"}, defs


RouteDocs: TypeAlias = Mapping[str, RouteDoc]


def header(name: str, description: str, *, required: bool = True, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string", **schema},
    }


# The routes of shared/web/ops.py, which every service has.
OPS_DOCS: RouteDocs = {
    "readyz": RouteDoc(
        responses={
            503: {
                "description": "Not ready: `checks` names what is missing",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Readiness"}}},
            }
        },
        components={
            "Readiness": {
                "type": "object",
                "required": ["status", "checks"],
                "properties": {
                    "status": {"type": "string", "enum": ["ready", "unavailable"]},
                    "checks": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            }
        },
    ),
    "metrics": RouteDoc(
        responses={
            200: {
                "description": "Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        }
    ),
    "lag": RouteDoc(errors=[Problem(503, "kafka_unavailable", "Kafka is unavailable")]),
}


def _calls(dependant: Dependant) -> Iterable[Callable[..., Any]]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


def _api_routes(app: FastAPI) -> Iterable[Any]:
    # FastAPI >= 0.16x keeps included routers as branches; its own document walks their route contexts.
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    for route in iter_contexts(app.routes) if iter_contexts is not None else app.routes:
        if isinstance(getattr(route, "original_route", route), APIRoute) and getattr(route, "include_in_schema", True):
            yield route


def _row(table: ProblemTable, ref: ErrorRef) -> Problem:
    if isinstance(ref, Problem):
        return ref
    row = problem_for(table, ref(None))
    if row is None:
        raise LookupError(f"{ref.__name__} has no row in the service's ERRORS table")
    return row


def _problem_response(problems: Sequence[Problem]) -> dict[str, Any]:
    codes = sorted({p.code for p in problems})
    titles = "; ".join(f"`{p.code}`: {p.title}" for p in sorted(set(problems), key=lambda p: p.code))
    schema = {"allOf": [{"$ref": "#/components/schemas/Problem"}, {"properties": {"code": {"enum": codes}}}]}
    example_row = min(problems, key=lambda p: p.code)
    example = {
        "type": f"https://errors.dispute-desk.dev/{example_row.code}",
        "title": example_row.title,
        "status": example_row.status,
        "code": example_row.code,
    }
    return {"description": titles, "content": {PROBLEM_MEDIA_TYPE: {"schema": schema, "example": example}}}


def _drop_fastapi_validation(doc: dict[str, Any]) -> None:
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def build_openapi(app: FastAPI, errors: ProblemTable, docs: RouteDocs) -> dict[str, Any]:
    """The service's document (module docstring); pure, so a test can build it without serving it."""
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "HS256 token with `role` (seller | operator), `seller_id` for sellers, and `exp`.",
        }
    }
    all_docs = {**OPS_DOCS, **docs}
    routes = list(_api_routes(app))
    unknown = set(docs) - {r.name for r in routes}
    if unknown:
        raise LookupError(f"OpenAPI docs for routes that do not exist: {sorted(unknown)}")
    for route in routes:
        route_doc = all_docs.get(route.name, RouteDoc())
        for name, schema in route_doc.components.items():
            schemas[name] = dict(schema)
        calls = set(_calls(route.dependant))
        problems: list[Problem] = [_row(errors, ref) for ref in route_doc.errors]
        secured = current_principal in calls
        if secured:
            problems += UNAUTHORIZED
        if require_operator in calls:
            problems.append(FORBIDDEN)
        if request_session in calls:
            problems.append(COMMIT_FAILED)
        has_input = bool(route.dependant.path_params or route.dependant.query_params or route.dependant.header_params)
        if has_input or route.body_field is not None or route_doc.request_body is not None:
            problems.append(VALIDATION_ERROR)
        if route.body_field is not None and route_doc.request_body is None:
            problems.append(BAD_REQUEST)
        for method in sorted(route.methods or ()):
            op = doc["paths"][route.path_format][method.lower()]
            if secured:
                op["security"] = [{BEARER: []}]
            if route_doc.request_body is not None:
                op["requestBody"] = dict(route_doc.request_body)
            elif route_doc.example is not None and "requestBody" in op:
                op["requestBody"]["content"]["application/json"]["example"] = route_doc.example
            if route_doc.parameters:
                op.setdefault("parameters", []).extend(dict(p) for p in route_doc.parameters)
            responses = op.setdefault("responses", {})
            for status in [s for s in responses if s.startswith(("4", "5"))]:
                del responses[status]  # FastAPI's HTTPValidationError 422
            for status, response in route_doc.responses.items():
                responses[str(status)] = dict(response)
            by_status: dict[int, list[Problem]] = {}
            for problem in problems:
                by_status.setdefault(problem.status, []).append(problem)
            for status in sorted(by_status):
                responses[str(status)] = _problem_response(by_status[status])
    _drop_fastapi_validation(doc)
    return doc


def install_openapi(app: FastAPI, errors: ProblemTable | None = None, docs: RouteDocs | None = None) -> None:
    """Serve `build_openapi`'s document at /openapi.json, built once on the first request."""
    table = {**SHARED_PROBLEMS, **(errors or {})}  # as install_problem_handlers answers them
    route_docs = dict(docs or {})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, table, route_docs)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc from the `fastapi-offline` wheel's assets: no CDN, works offline.

    The app must be built with ``docs_url=None, redoc_url=None`` (FastAPI's own pages use a CDN).
    """
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(DOCS_ASSETS, StaticFiles(directory=_ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} — API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} — API",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
