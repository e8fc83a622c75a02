"""W3C trace context: parsing, scopes, and the request-context middleware."""

from __future__ import annotations

import asyncio
import re

import httpx
import structlog
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from shared.tracing import (
    child_of,
    current_request_id,
    current_traceparent,
    new_traceparent,
    parse_traceparent,
    trace_id_of,
    trace_scope,
)
from shared.web.middleware import RequestContextMiddleware

W3C = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


# --------------------------------------------------------------------------- parsing


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


def test_child_keeps_trace_id_and_flags_with_a_new_span_id():
    child = child_of(PARENT)
    assert W3C.fullmatch(child)
    assert trace_id_of(child) == TRACE_ID
    assert child.split("-")[2] != PARENT.split("-")[2]
    assert child_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").endswith("-00")


def test_child_of_a_missing_or_invalid_parent_starts_a_new_trace():
    for parent in (None, "nonsense"):
        child = child_of(parent)
        assert W3C.fullmatch(child)
        assert trace_id_of(child) != TRACE_ID


# --------------------------------------------------------------------------- scopes


def test_trace_scope_sets_ids_and_restores_the_outer_ones():
    assert current_traceparent() is None
    with trace_scope(PARENT, "req-1"):
        assert current_traceparent() == PARENT
        assert current_request_id() == "req-1"
        inner = child_of(PARENT)
        with trace_scope(inner):
            assert current_traceparent() == inner
            assert current_request_id() is None  # a Kafka handler has no request
        assert current_traceparent() == PARENT
        assert current_request_id() == "req-1"
    assert current_traceparent() is None
    assert current_request_id() is None


def test_trace_scope_binds_trace_and_request_ids_for_log_lines():
    with trace_scope(PARENT, "req-1"):
        assert structlog.contextvars.get_contextvars() == {"trace_id": TRACE_ID, "request_id": "req-1"}
        with trace_scope(None):
            assert structlog.contextvars.get_contextvars() == {}
        assert structlog.contextvars.get_contextvars() == {"trace_id": TRACE_ID, "request_id": "req-1"}
    assert structlog.contextvars.get_contextvars() == {}


def test_trace_scope_leaves_other_log_context_alone():
    structlog.contextvars.bind_contextvars(dispute_id="CD-2026-000123")
    try:
        with trace_scope(PARENT):
            assert structlog.contextvars.get_contextvars()["dispute_id"] == "CD-2026-000123"
        assert structlog.contextvars.get_contextvars() == {"dispute_id": "CD-2026-000123"}
    finally:
        structlog.contextvars.clear_contextvars()


def test_trace_scope_treats_an_invalid_traceparent_as_none():
    with trace_scope("nonsense", "req-1"):
        assert current_traceparent() is None
        assert current_request_id() == "req-1"


def test_trace_scope_restores_ids_when_the_handler_fails():
    try:
        with trace_scope(PARENT, "req-1"):
            raise RuntimeError("handler failed")
    except RuntimeError:
        pass
    assert current_traceparent() is None
    assert structlog.contextvars.get_contextvars() == {}


async def test_concurrent_handlers_each_see_their_own_trace():
    async def handle(traceparent: str) -> str | None:
        with trace_scope(traceparent):
            await asyncio.sleep(0.01)
            return current_traceparent()

    first, second = new_traceparent(), new_traceparent()
    assert await asyncio.gather(handle(first), handle(second)) == [first, second]


# --------------------------------------------------------------------------- middleware


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dispute-desk.test")


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware)

    @app.get("/context")
    async def context() -> dict[str, str | None]:
        return {
            "traceparent": current_traceparent(),
            "request_id": current_request_id(),
            "log_trace_id": structlog.contextvars.get_contextvars().get("trace_id"),
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
    assert body["traceparent"] == returned
    assert body["log_trace_id"] == TRACE_ID


async def test_invalid_traceparent_starts_a_new_trace():
    async with _client(_app()) as client:
        response = await client.get(
            "/context", headers={"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}
        )
    returned = response.headers["traceparent"]
    assert W3C.fullmatch(returned)
    assert trace_id_of(returned) != "0" * 32
    assert response.json()["traceparent"] == returned


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
    assert response.json() == {"traceparent": response.headers["traceparent"], "request_id": "req-sync"}


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
