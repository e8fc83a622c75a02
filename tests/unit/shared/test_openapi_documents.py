"""Every service's OpenAPI document says what its routes really read and answer, and /docs works offline.

Built from each service's `create_app` (no database is touched: engines connect lazily).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from shared.web.auth import current_principal
from shared.web.openapi import build_openapi
from shared.web.problems import PROBLEM_MEDIA_TYPE
from tests.services import service_main, service_names

SERVICES = service_names()
_READS_BODY = re.compile(r"\brequest\.(body|stream|form)\(")
_PASSES_REQUEST = re.compile(r"\b(\w+)\(\s*request\b")


def _app(name: str) -> FastAPI:
    return service_main(name).create_app()


def _routes(app: FastAPI) -> Iterator[Any]:
    for route in fastapi.routing.iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            yield route


def _reads_body_by_hand(func: Callable[..., Any], depth: int = 3) -> bool:
    """The function reads the request body itself, or hands `request` to a function that does."""
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        return False
    if _READS_BODY.search(source):
        return True
    if depth == 0:
        return False
    names = set(_PASSES_REQUEST.findall(source))
    scope = getattr(func, "__globals__", {})
    return any(callable(scope.get(n)) and _reads_body_by_hand(scope[n], depth - 1) for n in names)


def _calls(dependant: Any) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def test_services_are_found_by_scanning_the_folder() -> None:
    assert {"ingest", "evidence", "deadline", "notify", "submit", "portal_sim"} <= set(SERVICES)


@pytest.mark.parametrize("name", SERVICES)
def test_no_fastapi_validation_error_schema(name: str) -> None:
    text = json.dumps(_app(name).openapi())
    assert "HTTPValidationError" not in text
    assert "#/components/schemas/ValidationError" not in text


@pytest.mark.parametrize("name", SERVICES)
def test_a_body_read_by_hand_is_documented(name: str) -> None:
    app = _app(name)
    doc = app.openapi()
    hand_read = [r for r in _routes(app) if _reads_body_by_hand(r.endpoint)]
    for route in hand_read:
        for method in route.methods:
            body = doc["paths"][route.path_format][method.lower()].get("requestBody")
            assert body and body.get("content"), f"{method} {route.path_format} reads a body it does not document"
    if name == "ingest":  # the two the issue names, so the scan itself cannot silently find nothing
        assert {r.name for r in hand_read} >= {"coupang_webhook", "import_disputes"}
    if name == "evidence":
        assert "upload_evidence" in {r.name for r in hand_read}


@pytest.mark.parametrize("name", SERVICES)
def test_every_request_body_has_an_example(name: str) -> None:
    for path, item in _app(name).openapi()["paths"].items():
        for method, op in item.items():
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                assert "example" in content or "examples" in content, f"{method} {path} {media}: no example"


@pytest.mark.parametrize("name", SERVICES)
def test_every_error_response_is_a_problem_and_every_route_with_input_has_a_4xx(name: str) -> None:
    app = _app(name)
    doc = app.openapi()
    assert doc["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "code"]
    for route in _routes(app):
        for method in route.methods:
            op = doc["paths"][route.path_format][method.lower()]
            where = f"{name}: {method} {route.path_format}"
            responses = op["responses"]
            for status, response in responses.items():
                if status[0] in "45" and (route.name, status) != ("readyz", "503"):
                    content = response["content"]
                    assert list(content) == [PROBLEM_MEDIA_TYPE], where
                    schema = content[PROBLEM_MEDIA_TYPE]["schema"]
                    assert schema["allOf"][0] == {"$ref": "#/components/schemas/Problem"}, where
                    assert schema["allOf"][1]["properties"]["code"]["enum"], where
            takes_input = bool(op.get("parameters") or op.get("requestBody") or op.get("security"))
            if takes_input:  # a probe with no input (/healthz, /metrics) has no way to be refused
                assert any(s.startswith("4") for s in responses), f"{where}: no 4xx problem response"


@pytest.mark.parametrize("name", SERVICES)
def test_routes_that_need_a_token_declare_the_bearer_scheme(name: str) -> None:
    app = _app(name)
    doc = app.openapi()
    if not any(current_principal in set(_calls(r.dependant)) for r in _routes(app)):
        return  # the portal simulator: nothing needs a token
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    for route in _routes(app):
        needs_token = current_principal in set(_calls(route.dependant))
        for method in route.methods:
            op = doc["paths"][route.path_format][method.lower()]
            assert (op.get("security") == [{"bearerAuth": []}]) == needs_token, f"{method} {route.path_format}"
            if needs_token:
                assert set(
                    op["responses"]["401"]["content"][PROBLEM_MEDIA_TYPE]["schema"]["allOf"][1]["properties"]["code"][
                        "enum"
                    ]
                ) == {"missing_token", "invalid_token", "token_expired"}


def test_the_webhook_declares_its_notice_headers_and_refusals() -> None:
    op = _app("ingest").openapi()["paths"]["/v1/webhooks/coupang/{seller_id}"]["post"]
    headers = {p["name"] for p in op["parameters"] if p["in"] == "header"}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Notice"}
    assert {"200", "202", "401", "413"} <= set(op["responses"])


def test_the_import_takes_raw_csv_or_a_multipart_file() -> None:
    content = _app("ingest").openapi()["paths"]["/v1/disputes/import"]["post"]["requestBody"]["content"]
    assert set(content) == {"text/csv", "multipart/form-data"}
    assert content["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"


def test_the_upload_declares_file_meta_kind_and_a_meta_schema_per_kind() -> None:
    doc = _app("evidence").openapi()
    content = doc["paths"]["/v1/cases/{dispute_id}/evidence"]["post"]["requestBody"]["content"]
    form = content["multipart/form-data"]["schema"]["properties"]
    assert set(form) == {"file", "meta", "kind"}
    meta = doc["components"]["schemas"]["EvidenceMeta"]
    mapping = meta["discriminator"]["mapping"]
    from shared.contracts import EvidenceKind

    assert set(mapping) == {k.value for k in EvidenceKind}  # every kind has its schema
    assert doc["components"]["schemas"]["TrackingMeta"]["properties"]["tracking_number"]


def test_a_docs_key_that_names_no_route_is_refused() -> None:
    from shared.web.openapi import RouteDoc

    app = _app("notify")
    with pytest.raises(LookupError, match="renamed_route"):
        build_openapi(app, {}, {"renamed_route": RouteDoc()})


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("src", "href", "spec-url") and value:
                self.urls.append(value)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
@pytest.mark.parametrize("name", SERVICES)
async def test_docs_load_their_assets_from_the_service_itself(name: str, page: str) -> None:
    app = _app(name)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        html = await client.get(page)
        assert html.status_code == 200
        assert not re.search(r"(https?:)?//", html.text), "no external URL in the page"
        parser = _Assets()
        parser.feed(html.text)
        assert len(parser.urls) >= 2
        for url in parser.urls:
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert asset.content, url
