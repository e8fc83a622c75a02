"""Tracing on OpenTelemetry: traceparent strings, scopes, carried context, logs, middleware."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.tracing import (
    _keep_only_the_send_span_context,
    add_trace_ids,
    configure_tracing,
    continued_from,
    current_request_id,
    current_traceparent,
    exporter_for,
    handling_span,
    inject_headers,
    instrument_app,
    new_traceparent,
    parse_traceparent,
    request_scope,
    trace_id_of,
    trace_scope,
    tracer,
)
from shared.web.middleware import RequestContextMiddleware

W3C = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    configure_tracing("tests")
    memory = InMemorySpanExporter()
    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(memory))
    yield memory
    memory.shutdown()  # the processor stays on the provider; a stopped exporter keeps nothing


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


def _ids(span: ReadableSpan) -> tuple[str, str]:
    return trace.format_trace_id(span.context.trace_id), trace.format_span_id(span.context.span_id)


def _parent_span_id(span: ReadableSpan) -> str | None:
    return trace.format_span_id(span.parent.span_id) if span.parent else None


# --------------------------------------------------------------------------- traceparent strings


def test_new_traceparent_is_a_sampled_version_00_header():
    value = new_traceparent()
    assert W3C.fullmatch(value)
    assert value.endswith("-01")
    assert parse_traceparent(value) == value


def test_new_traceparents_start_different_traces():
    assert trace_id_of(new_traceparent()) != trace_id_of(new_traceparent())


def test_valid_traceparent_is_returned_normalised():
    assert parse_traceparent(PARENT) == PARENT
    assert parse_traceparent(f"  {PARENT.upper()} ") == PARENT
    assert parse_traceparent(PARENT.encode()) == PARENT
    unsampled = PARENT[:-2] + "00"
    assert parse_traceparent(unsampled) == unsampled


def test_future_version_is_read_as_version_00_without_extra_fields():
    future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds"
    assert parse_traceparent(future) == PARENT


def test_invalid_traceparents_are_refused():
    for bad in [
        None,
        "",
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        f"{PARENT}-extra",  # version 00 has exactly four fields
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",  # short flags
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  # not hex
        b"\xff\xfe",
    ]:
        assert parse_traceparent(bad) is None, bad


def test_trace_id_of_reads_the_trace_id_or_none():
    assert trace_id_of(PARENT) == TRACE_ID
    assert trace_id_of("nonsense") is None


# --------------------------------------------------------------------------- set-up


def test_spans_get_real_ids_without_an_exporter(spans, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert exporter_for(None) is None
    with tracer().start_as_current_span("work"):
        assert W3C.fullmatch(current_traceparent() or "")
    assert [span.name for span in spans.get_finished_spans()] == ["work"]


def test_otlp_exporter_is_on_when_an_endpoint_is_set(monkeypatch):
    class Settings:
        otel_exporter_otlp_endpoint = "http://127.0.0.1:4318/"

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    ours = exporter_for(Settings())
    assert isinstance(ours, OTLPSpanExporter)
    assert ours._endpoint == "http://127.0.0.1:4318/v1/traces"

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4319")
    standard = exporter_for(None)
    assert isinstance(standard, OTLPSpanExporter)
    assert standard._endpoint == "http://127.0.0.1:4319/v1/traces"


# --------------------------------------------------------------------------- scopes and carried context


def test_trace_scope_sets_ids_and_restores_the_outer_ones():
    assert current_traceparent() is None
    with trace_scope(PARENT, "req-1"):
        assert current_traceparent() == PARENT
        assert current_request_id() == "req-1"
        inner = new_traceparent()
        with trace_scope(inner):
            assert current_traceparent() == inner
            assert current_request_id() is None  # a Kafka handler has no request
        assert current_traceparent() == PARENT
        assert current_request_id() == "req-1"
    assert current_traceparent() is None
    assert current_request_id() is None


def test_trace_scope_treats_an_invalid_traceparent_as_none():
    with trace_scope(PARENT), trace_scope("nonsense", "req-1"):
        assert current_traceparent() is None
        assert current_request_id() == "req-1"


def test_trace_scope_restores_ids_when_the_handler_fails():
    with pytest.raises(RuntimeError), trace_scope(PARENT, "req-1"):
        raise RuntimeError("handler failed")
    assert current_traceparent() is None
    assert current_request_id() is None


async def test_concurrent_handlers_each_see_their_own_trace():
    async def handle(traceparent: str) -> str | None:
        with trace_scope(traceparent):
            await asyncio.sleep(0.01)
            return current_traceparent()

    first, second = new_traceparent(), new_traceparent()
    assert await asyncio.gather(handle(first), handle(second)) == [first, second]


def test_injected_headers_carry_the_current_span_or_nothing():
    assert inject_headers() == {}
    with trace_scope(PARENT):
        assert inject_headers({"dd-other": "x"}) == {"dd-other": "x", "traceparent": PARENT}


def test_spans_started_in_a_stored_context_continue_its_trace(spans):
    with trace_scope(new_traceparent()):  # the relay's own context must not be the parent
        with continued_from({"traceparent": PARENT}), tracer().start_as_current_span("publish"):
            pass
        with continued_from({"traceparent": "nonsense"}), tracer().start_as_current_span("orphan"):
            pass
    publish, orphan = spans.get_finished_spans()
    assert _ids(publish)[0] == TRACE_ID
    assert _parent_span_id(publish) == PARENT_SPAN_ID
    assert orphan.parent is None and _ids(orphan)[0] != TRACE_ID


def test_handling_span_is_a_child_of_the_message_context_without_request_id(spans):
    with request_scope("req-outer"):
        with handling_span({"traceparent": PARENT}, "handle dispute.received/v1") as span:
            assert current_request_id() is None
            assert current_traceparent() == f"00-{TRACE_ID}-{trace.format_span_id(span.get_span_context().span_id)}-01"
        assert current_request_id() == "req-outer"
        with handling_span({}, "handle orphan"):
            pass
    handled, orphan = spans.get_finished_spans()
    assert handled.kind is trace.SpanKind.CONSUMER
    assert _parent_span_id(handled) == PARENT_SPAN_ID
    assert orphan.parent is None and _ids(orphan)[0] != TRACE_ID


async def test_only_the_send_spans_traceparent_reaches_kafka():
    stored, injected = (b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"), b"00-" + b"1" * 32 + b"-" + b"3" * 16 + b"-01"
    kwargs = {"headers": [("traceparent", stored), ("dd-other", b"x"), ("traceparent", injected)]}
    await _keep_only_the_send_span_context(None, (), kwargs)
    assert kwargs["headers"] == [("dd-other", b"x"), ("traceparent", injected)]


def test_log_lines_get_the_trace_span_and_request_ids():
    assert add_trace_ids(None, "info", {"event": "x"}) == {"event": "x"}
    with trace_scope(PARENT, "req-1"):
        assert add_trace_ids(None, "info", {"event": "x"}) == {
            "event": "x",
            "trace_id": TRACE_ID,
            "span_id": PARENT_SPAN_ID,
            "request_id": "req-1",
        }


# --------------------------------------------------------------------------- middleware


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dispute-desk.test")


def _app(**options: Any) -> FastAPI:
    app = FastAPI(**options)
    app.add_middleware(RequestContextMiddleware)

    @app.get("/context")
    async def context() -> dict[str, str | None]:
        return {
            "traceparent": current_traceparent(),
            "request_id": current_request_id(),
            "log_trace_id": add_trace_ids(None, "info", {}).get("trace_id"),
        }

    @app.get("/sync-context")
    def sync_context() -> dict[str, str | None]:  # runs in the thread pool
        return {"traceparent": current_traceparent(), "request_id": current_request_id()}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks():
            yield b"a"
            yield (current_request_id() or "").encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    return app


async def test_traceparent_from_request_is_continued_and_returned():
    async with _client(_app()) as client:
        response = await client.get("/context", headers={"traceparent": PARENT})
    returned = response.headers["traceparent"]
    assert trace_id_of(returned) == TRACE_ID
    assert returned != PARENT  # our own span, child of the caller's
    body = response.json()
    assert trace_id_of(body["traceparent"]) == TRACE_ID  # the endpoint may run in a span of its own
    assert body["log_trace_id"] == TRACE_ID


async def test_invalid_traceparent_starts_a_new_trace():
    async with _client(_app()) as client:
        response = await client.get(
            "/context", headers={"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}
        )
    returned = response.headers["traceparent"]
    assert W3C.fullmatch(returned)
    assert trace_id_of(returned) != "0" * 32
    assert trace_id_of(response.json()["traceparent"]) == trace_id_of(returned)


async def test_request_without_traceparent_gets_a_new_trace_and_request_id():
    async with _client(_app()) as client:
        first = await client.get("/context")
        second = await client.get("/context")
    assert W3C.fullmatch(first.headers["traceparent"])
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])
    assert first.json()["request_id"] == first.headers["x-request-id"]
    assert trace_id_of(first.headers["traceparent"]) != trace_id_of(second.headers["traceparent"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_sane_request_id_from_the_caller_is_kept():
    async with _client(_app()) as client:
        response = await client.get("/context", headers={"x-request-id": "portal.webhook-42_A"})
    assert response.headers["x-request-id"] == "portal.webhook-42_A"
    assert response.json()["request_id"] == "portal.webhook-42_A"


async def test_unsafe_or_overlong_request_id_is_replaced():
    async with _client(_app()) as client:
        for offered in ['evil"id<script>', "a" * 129, "with space", ""]:
            response = await client.get("/context", headers={"x-request-id": offered})
            assert response.headers["x-request-id"] != offered
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_sync_endpoints_see_the_request_context_too():
    async with _client(_app()) as client:
        response = await client.get("/sync-context", headers={"x-request-id": "req-sync"})
    body = response.json()
    assert trace_id_of(body["traceparent"]) == trace_id_of(response.headers["traceparent"])
    assert body["request_id"] == "req-sync"


async def test_streaming_responses_carry_the_ids_and_stream_inside_the_scope():
    async with _client(_app()) as client:
        response = await client.get("/stream", headers={"x-request-id": "req-stream"})
    assert response.headers["x-request-id"] == "req-stream"
    assert response.text == "areq-stream"


async def test_request_context_does_not_leak_after_the_request():
    async with _client(_app()) as client:
        await client.get("/context", headers={"traceparent": PARENT})
    assert current_traceparent() is None
    assert current_request_id() is None


async def test_with_the_fastapi_instrumentation_its_server_span_is_the_one_answered(spans):
    app = _app()
    instrument_app(app)
    async with _client(app) as client:
        response = await client.get("/context", headers={"traceparent": PARENT, "x-request-id": "req-otel"})
    (server,) = spans.get_finished_spans()  # one span: ours is not opened twice, no receive/send spans
    assert server.kind is trace.SpanKind.SERVER
    assert server.name == "GET /context"
    assert _parent_span_id(server) == PARENT_SPAN_ID
    assert response.headers["traceparent"] == f"00-{TRACE_ID}-{_ids(server)[1]}-01"
    assert response.json()["request_id"] == "req-otel"


async def test_without_any_instrumentation_the_middleware_opens_the_server_span(spans):
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"traceparent": current_traceparent(), "request_id": current_request_id()})

    app = Starlette(routes=[Route("/plain", endpoint)], middleware=[Middleware(RequestContextMiddleware)])
    async with _client(app) as client:
        response = await client.get("/plain", headers={"traceparent": PARENT, "x-request-id": "req-plain"})
    (server,) = spans.get_finished_spans()
    assert server.kind is trace.SpanKind.SERVER
    assert _parent_span_id(server) == PARENT_SPAN_ID
    assert response.headers["traceparent"] == response.json()["traceparent"] == f"00-{TRACE_ID}-{_ids(server)[1]}-01"
    assert response.json()["request_id"] == "req-plain"


def test_a_lone_sql_statement_is_no_trace_but_one_inside_a_request_is_kept(spans):
    statement = {"db.system": "postgresql"}
    with tracer().start_as_current_span("SELECT", kind=trace.SpanKind.CLIENT, attributes=statement) as lone:
        assert W3C.fullmatch(current_traceparent() or "")  # logs still get ids
    with tracer().start_as_current_span("POST /disputes", kind=trace.SpanKind.SERVER):
        with tracer().start_as_current_span("INSERT", kind=trace.SpanKind.CLIENT, attributes=statement):
            pass
    assert not lone.is_recording()
    assert [span.name for span in spans.get_finished_spans()] == ["INSERT", "POST /disputes"]


def test_spans_reach_an_otlp_collector_over_http_when_an_endpoint_is_set():
    received: list[tuple[str, str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((self.path, self.headers["content-type"], body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:

        class Settings:
            otel_exporter_otlp_endpoint = f"http://127.0.0.1:{server.server_port}"

        provider = TracerProvider()  # not the global one: this test must not export for the others
        provider.add_span_processor(SimpleSpanProcessor(exporter_for(Settings())))
        with provider.get_tracer("test").start_as_current_span("exported-span"):
            pass
        provider.shutdown()
    finally:
        server.shutdown()
        thread.join(5)
    ((path, content_type, body),) = received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    assert b"exported-span" in body


def test_without_a_span_collector_a_handler_still_continues_the_event_trace_cheaply(monkeypatch):
    import shared.tracing as tracing_module

    monkeypatch.setattr(tracing_module, "_collecting", lambda: False)
    parent = tracing_module.new_traceparent()
    with tracing_module.handling_span({"traceparent": parent}, "handle x") as span:
        inside = tracing_module.current_traceparent()
        assert not span.is_recording()  # no SDK span: nothing would ever read it
    assert tracing_module.trace_id_of(inside) == tracing_module.trace_id_of(parent)
    assert inside != parent  # a span id of its own, so the handler's lines and events are told apart
    with tracing_module.handling_span({}, "handle y"):
        fresh = tracing_module.current_traceparent()
    assert fresh is not None and tracing_module.trace_id_of(fresh) != tracing_module.trace_id_of(parent)


async def test_without_a_span_collector_requests_get_cheap_span_contexts_of_their_own(monkeypatch):
    import shared.tracing as tracing_module

    monkeypatch.setattr(tracing_module, "_collecting", lambda: False)
    app = _app(telemetry={"tracing": False})  # as shared.web.app.create_service_app makes it
    instrument_app(app)  # nothing collects: the FastAPI instrumentation is not installed
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    async with _client(app) as client:
        continued = await client.get("/context", headers={"traceparent": PARENT, "x-request-id": "req-cheap"})
        fresh = await client.get("/context")
    returned = continued.headers["traceparent"]
    assert trace_id_of(returned) == TRACE_ID and returned != PARENT  # the caller's trace, a span id of ours
    assert returned.endswith("-01")
    assert continued.json() == {"traceparent": returned, "request_id": "req-cheap", "log_trace_id": TRACE_ID}
    assert W3C.fullmatch(fresh.headers["traceparent"])
    assert trace_id_of(fresh.headers["traceparent"]) not in (TRACE_ID, "0" * 32)
    assert fresh.json()["traceparent"] == fresh.headers["traceparent"]
