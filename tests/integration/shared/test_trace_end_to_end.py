"""One trace from an HTTP request through the outbox, the relay, Kafka and a consumer."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import Envelope, topics
from shared.db.outbox import Outbox
from shared.db.session import session_scope
from shared.kafka.consumer import EventConsumer
from shared.kafka.producer import KafkaProducer
from shared.kafka.relay import OutboxRelay
from shared.logging import configure_logging
from shared.settings import ServiceSettings
from shared.tracing import configure_tracing, instrument_app, instrument_kafka, trace_id_of, uninstrument
from shared.web.middleware import RequestContextMiddleware
from tests.support import dispute_received, end_offsets, eventually

SCHEMA = "dispute.received/v1"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    configure_tracing("e2e")
    exporter = InMemorySpanExporter()
    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
    instrument_kafka()
    yield exporter
    uninstrument()  # aiokafka, httpx and asyncpg are patched process-wide: leave other tests as they were
    exporter.shutdown()


@pytest.fixture
def log_lines(capsys: pytest.CaptureFixture[str]) -> Iterator:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    configure_logging("e2e", "INFO")

    def read() -> list[dict]:
        return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]

    yield read
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    structlog.reset_defaults()


async def _start_group_at(kafka: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit `offsets` for `group`, so its consumer skips what earlier tests left on the topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


def _span_id(span: ReadableSpan) -> str:
    return trace.format_span_id(span.context.span_id)


def _parent_id(span: ReadableSpan) -> str | None:
    return trace.format_span_id(span.parent.span_id) if span.parent else None


def _one(spans: list[ReadableSpan], name: str, kind: trace.SpanKind) -> ReadableSpan:
    found = [span for span in spans if span.name == name and span.kind is kind]
    assert len(found) == 1, [(span.name, span.kind) for span in spans]
    return found[0]


async def test_one_trace_runs_from_the_request_through_outbox_kafka_and_consumer(
    scratch, infra, kafka, spans, log_lines
):
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware)
    instrument_app(app)
    outbox = Outbox(scratch.outbox_table)

    @app.post("/disputes")
    async def receive_dispute() -> dict:
        async with session_scope(scratch.sessions) as session:
            await outbox.add(session, dispute_received(scratch.dispute_id(1), 1))
        return {}

    handled: list[str] = []

    async def handle(session: AsyncSession, event: Envelope, ctx) -> None:
        if event.subject.startswith(scratch.prefix):
            structlog.get_logger("e2e").info("e2e_dispute_handled", dispute_id=event.subject)
            handled.append(event.subject)

    group = f"g-{scratch.schema}"
    await _start_group_at(kafka, group, await end_offsets(kafka, topics.DISPUTE_RECEIVED))
    settings = ServiceSettings(database_url=infra.database_url, kafka_bootstrap_servers=kafka)
    producer = KafkaProducer.from_settings(settings, client_id="e2e")
    await producer.start()
    consumer = EventConsumer(
        service="e2e",
        context=None,
        group_id=group,
        handlers={SCHEMA: handle},
        sessions=scratch.sessions,
        inbox_table=scratch.inbox_table,
        producer=producer,
        bootstrap_servers=kafka,
        settings=settings,
    )
    relay = OutboxRelay(outbox_table=scratch.outbox_table, producer=producer, settings=settings)
    await consumer.start()
    consumer_task = asyncio.create_task(consumer.run())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e2e.test") as client:
            response = await client.post("/disputes")
        assert response.status_code == 200
        trace_id = trace_id_of(response.headers["traceparent"])
        async with session_scope(scratch.sessions) as session:
            (stored,) = (await session.execute(select(scratch.outbox_table.c.headers))).scalars()

        # The relay runs in a task of its own, outside the request: its context is not the request's.
        relay_task = asyncio.create_task(relay.run())
        try:
            await eventually(lambda: asyncio.sleep(0, handled), timeout_s=30)
        finally:
            relay_task.cancel()
            await asyncio.gather(relay_task, return_exceptions=True)
    finally:
        consumer.request_stop()
        await asyncio.wait_for(consumer_task, 15)
        await producer.stop()

    ours = [span for span in spans.get_finished_spans() if trace.format_trace_id(span.context.trace_id) == trace_id]
    server = _one(ours, "POST /disputes", trace.SpanKind.SERVER)
    publish = _one(ours, f"{topics.DISPUTE_RECEIVED} send", trace.SpanKind.PRODUCER)
    receive = _one(ours, f"{topics.DISPUTE_RECEIVED} receive", trace.SpanKind.CONSUMER)
    handler = _one(ours, f"handle {SCHEMA}", trace.SpanKind.CONSUMER)

    # request -> (outbox row) -> publish -> receive / handle
    assert server.parent is None
    assert response.headers["traceparent"].startswith(f"00-{trace_id}-{_span_id(server)}-")
    assert stored["traceparent"] == response.headers["traceparent"]  # the row holds the request's context
    assert _parent_id(publish) == _span_id(server)
    assert _parent_id(receive) == _span_id(publish)
    assert _parent_id(handler) == _span_id(publish)
    # The SQL of the request, traced by the asyncpg instrumentation, hangs under its span.
    statements = [span for span in ours if span.kind is trace.SpanKind.CLIENT and _parent_id(span) == _span_id(server)]
    sql = [str((span.attributes or {}).get("db.statement", "")) for span in statements]
    assert any("INSERT INTO" in text for text in sql), sql  # the outbox row

    (line,) = [line for line in log_lines() if line["event"] == "e2e_dispute_handled"]
    assert line["trace_id"] == trace_id
    assert line["span_id"] == _span_id(handler)
    assert "request_id" not in line  # a handler serves no HTTP request
