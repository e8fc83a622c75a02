"""Tracing with OpenTelemetry: one trace from the portal webhook to the submitted evidence.

One dispute crosses five services. Every HTTP request, published event and handled event is
a span; W3C `traceparent` headers carry the trace over HTTP and Kafka, and every log line
written inside a span carries its ``trace_id`` (see `add_trace_ids`), so an operator can
follow a dispute by grepping one id, or see the whole trace in a tracing backend.

- `configure_tracing` sets up the process's `TracerProvider` once. Spans always get real
  ids; they are exported (OTLP over HTTP) only when an endpoint is configured.
- `instrument_app` / `instrument_kafka` switch on the FastAPI, httpx, asyncpg and aiokafka
  instrumentations.
- The outbox stores the writer's context with each row (`inject_headers`); the relay publishes
  it later, in its own transaction, inside `continued_from(row.headers)`, so the publish span
  is a child of the request that wrote the event, not of the relay's loop.
- The consumer runs each handler in `handling_span(headers, name)`, a child of the context
  in the message's headers.
- The request id (``x-request-id``) is ours, not OpenTelemetry's: a `ContextVar`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes
from structlog.typing import EventDict, WrappedLogger

__all__ = [
    "add_trace_ids",
    "configure_tracing",
    "continued_from",
    "current_request_id",
    "current_traceparent",
    "exporter_for",
    "handling_span",
    "inject_headers",
    "instrument_app",
    "instrument_kafka",
    "new_traceparent",
    "parse_traceparent",
    "request_scope",
    "server_span",
    "trace_id_of",
    "trace_scope",
    "tracer",
    "uninstrument",
]

TRACER_NAME = "dispute_desk"
OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
# W3C Trace Context only: what our services and the portal speak (no baggage, no B3).
_PROPAGATOR = TraceContextTextMapPropagator()
_ids = RandomIdGenerator()

_request_id: ContextVar[str | None] = ContextVar("dd_request_id", default=None)
_exporting = False


# --------------------------------------------------------------------------- set-up


def configure_tracing(service: str, settings: Any = None) -> TracerProvider:
    """Set up this process's tracer provider once; later calls only add the exporter if asked.

    Spans are exported with OTLP over HTTP when ``settings.otel_exporter_otlp_endpoint``
    (``DD_OTEL_EXPORTER_OTLP_ENDPOINT``, a base URL such as ``http://collector:4318``) or the
    standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; otherwise nothing is exported, but spans
    still get real ids, which the logs and the ``traceparent`` headers carry.
    """
    global _exporting
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = _Provider(resource=Resource.create({SERVICE_NAME: service}), sampler=_NoLoneStatements())
        trace.set_tracer_provider(provider)
        propagate.set_global_textmap(_PROPAGATOR)  # the instrumentations inject/extract with it
    exporter = None if _exporting else exporter_for(settings)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
        _exporting = True
    return provider


class _Provider(TracerProvider):
    """A provider that knows whether anything collects its spans (an exporter, a test's memory)."""

    collecting = False

    def add_span_processor(self, span_processor: Any) -> None:
        super().add_span_processor(span_processor)
        self.collecting = True


def _collecting() -> bool:
    return getattr(trace.get_tracer_provider(), "collecting", True)


class _NoLoneStatements(Sampler):
    """Every span of a trace, but no trace made of one SQL statement.

    The relay claims outbox rows every poll interval and the asyncpg instrumentation would
    make each of those statements a trace of its own; statements run for a request or a
    handled event are in that trace, as children, and are kept.
    """

    _inner = ParentBased(ALWAYS_ON)

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        is_root = not trace.get_current_span(parent_context).get_span_context().is_valid
        if is_root and attributes and ("db.system" in attributes or "db.system.name" in attributes):
            return SamplingResult(Decision.DROP)
        return self._inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "NoLoneStatements"


def exporter_for(settings: Any = None) -> SpanExporter | None:
    """The OTLP/HTTP exporter the settings or the standard environment ask for, else None."""
    endpoint = getattr(settings, "otel_exporter_otlp_endpoint", None)
    if not (endpoint or os.environ.get(OTLP_ENDPOINT_ENV)):
        return None
    # Imported here: its protobuf stack is only worth loading when we export.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # Without an endpoint of ours the exporter reads the standard OTEL_EXPORTER_OTLP_* itself.
    return OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces" if endpoint else None)


_cached_tracer: tuple[object, trace.Tracer] | None = None


def tracer() -> trace.Tracer:
    """Our own tracer; sets up a provider without exporter if the process has none yet, so
    that code run outside a service (tests, the CLI) still gets real trace ids.

    Kept per provider: `get_tracer` builds and compares scope objects on every call, a quarter
    of the cost of a handler's span, once per consumed event."""
    global _cached_tracer
    provider = trace.get_tracer_provider()
    if _cached_tracer is not None and _cached_tracer[0] is provider:
        return _cached_tracer[1]
    if not isinstance(provider, TracerProvider):
        configure_tracing("dispute-desk")
        provider = trace.get_tracer_provider()
    _cached_tracer = (provider, trace.get_tracer(TRACER_NAME))
    return _cached_tracer[1]


def instrument_app(app: Any) -> None:
    """Trace `app`'s requests, and this process's outgoing httpx calls and SQL statements.

    Call before the app serves its first request (the FastAPI instrumentation wraps its
    middleware stack). httpx and asyncpg (under SQLAlchemy) are instrumented once per
    process; statement parameters are not recorded (they hold buyers' data).
    """
    tracer()  # a provider must exist before the instrumentations take their tracers
    # Only when something collects spans (an exporter, a test's memory): otherwise the SDK span,
    # its attributes and the instrumentation's two ASGI layers are paid on every request for
    # nothing (~8 % of the ingest worker's CPU, bench/RESULTS.md), and `RequestContextMiddleware`
    # gives each request a span context of its own through `server_span`, which is all that the
    # logs and the `traceparent` answered need. Not the ASGI receive/send sub-spans: two more
    # spans per request that tell nothing.
    if _collecting():
        FastAPIInstrumentor.instrument_app(app, exclude_spans=["receive", "send"])
    httpx_instrumentor = HTTPXClientInstrumentor()  # also carries the trace to the services we call
    if not httpx_instrumentor.is_instrumented_by_opentelemetry:
        httpx_instrumentor.instrument()
    # A span per SQL statement is only worth its cost when something collects spans.
    asyncpg_instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]  # no annotations in 0.66b1
    if _collecting() and not asyncpg_instrumentor.is_instrumented_by_opentelemetry:
        asyncpg_instrumentor.instrument()


def instrument_kafka() -> None:
    """Trace aiokafka's `send` (a PRODUCER span) and `getone`/`getmany` (CONSUMER spans).

    Only when something collects spans: otherwise the relay sends the trace context stored with
    each outbox row, which is all a consumer needs, without a span per record.
    """
    tracer()
    if _collecting() and not AIOKafkaInstrumentor().is_instrumented_by_opentelemetry:
        AIOKafkaInstrumentor().instrument(async_produce_hook=_keep_only_the_send_span_context)


def uninstrument() -> None:
    """Undo the process-wide instrumentations (tests; FastAPI's is per app and stays)."""
    for instrumentor in (AIOKafkaInstrumentor(), HTTPXClientInstrumentor(), AsyncPGInstrumentor()):  # type: ignore[no-untyped-call]
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


async def _keep_only_the_send_span_context(_span: Any, _args: Any, kwargs: dict[str, Any]) -> None:
    # The instrumented `send` appends its own traceparent to the headers it is given, after
    # the one the outbox stored: keep only the last of each, so a consumer reading either
    # the first (the aiokafka instrumentation) or the last (our header_dict) sees the same.
    headers = kwargs.get("headers")
    if not isinstance(headers, list):
        return
    last = {key: i for i, (key, _) in enumerate(headers)}
    fields = _PROPAGATOR.fields
    headers[:] = [item for i, item in enumerate(headers) if item[0] not in fields or last[item[0]] == i]


# --------------------------------------------------------------------------- carrying context


def inject_headers(headers: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """`headers` plus the current trace context (``traceparent``, ``tracestate``), if any."""
    carrier = dict(headers or {})
    _PROPAGATOR.inject(carrier)
    return carrier


@contextmanager
def continued_from(headers: Mapping[str, str] | None) -> Iterator[None]:
    """Make the context stored in `headers` current: spans started inside are its children.

    The relay publishes each outbox row inside this, so the event's trace goes on from the
    request that wrote it. Without a valid ``traceparent`` the block runs without a trace.
    When nothing collects spans, no span is started inside, so the context is not even read:
    extracting it was ~7 % of a busy relay's CPU (bench/RESULTS.md).
    """
    if not _collecting():
        yield
        return
    token = otel_context.attach(_PROPAGATOR.extract(dict(headers or {}), context=otel_context.Context()))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextmanager
def server_span(headers: Mapping[str, str], name: str, path: str) -> Iterator[None]:
    """A SERVER span for one HTTP request, child of the caller's ``traceparent`` if valid.

    When nothing collects spans, a span context of our own (the caller's trace or a new one,
    a new span id) instead of an SDK span, as `handling_span` does for events: same ids in
    the logs and the answered ``traceparent``, a fraction of the cost.
    """
    parent = _PROPAGATOR.extract(headers, context=otel_context.Context())
    if _collecting():
        with tracer().start_as_current_span(name, context=parent, kind=SpanKind.SERVER, attributes={"url.path": path}):
            yield
        return
    span = NonRecordingSpan(_child_of(trace.get_current_span(parent).get_span_context()))
    with trace.use_span(span, end_on_exit=False):
        yield


@contextmanager
def handling_span(headers: Mapping[str, str] | None, name: str) -> Iterator[trace.Span]:
    """A CONSUMER span for handling one event, child of the context in its headers.

    No valid ``traceparent``: the event starts a trace. No request id inside (a handler run
    from an HTTP request must not log that request's id).
    """
    parent = _PROPAGATOR.extract(dict(headers or {}), context=otel_context.Context())
    rid_token = _request_id.set(None)
    try:
        if _collecting():
            with tracer().start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER) as span:
                yield span
        else:
            # Nothing collects spans in this process: a span context of our own (the parent's
            # trace, a new span id) is all the logs and outgoing headers need, for a fraction of
            # the SDK's cost per consumed event (it halved the inbox consumer's throughput).
            span = NonRecordingSpan(_child_of(trace.get_current_span(parent).get_span_context()))
            with trace.use_span(span, end_on_exit=False):
                yield span
    finally:
        _request_id.reset(rid_token)


def _child_of(parent: SpanContext) -> SpanContext:
    if parent.is_valid:
        return SpanContext(parent.trace_id, _ids.generate_span_id(), False, parent.trace_flags, parent.trace_state)
    return SpanContext(
        _ids.generate_trace_id(), _ids.generate_span_id(), False, trace.TraceFlags(trace.TraceFlags.SAMPLED)
    )


@contextmanager
def request_scope(request_id: str | None) -> Iterator[None]:
    """Make `request_id` current (``current_request_id()``, the logs) until the block exits."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


@contextmanager
def trace_scope(traceparent: str | bytes | None, request_id: str | None = None) -> Iterator[None]:
    """Make `traceparent` (a remote span) and `request_id` current until the block exits.

    An invalid or missing traceparent means "no trace": events queued inside carry none.
    Both replace the outer values and the outer ones come back on exit. For code that has a
    traceparent in hand but no span of its own (tests, error handlers); spans started inside
    are children of it.
    """
    parsed = _span_context(traceparent)
    span = NonRecordingSpan(parsed) if parsed else trace.INVALID_SPAN
    token = otel_context.attach(trace.set_span_in_context(span, otel_context.Context()))
    try:
        with request_scope(request_id):
            yield
    finally:
        otel_context.detach(token)


# --------------------------------------------------------------------------- reading context


def current_traceparent() -> str | None:
    """The traceparent of the span in progress (HTTP request, published or handled event)."""
    return _format(trace.get_current_span().get_span_context())


def current_request_id() -> str | None:
    """The id of the HTTP request being served, if any (None inside Kafka handlers)."""
    return _request_id.get()


def add_trace_ids(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: ``trace_id``, ``span_id`` and ``request_id`` of the work in progress."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict.setdefault("trace_id", trace.format_trace_id(span_context.trace_id))
        event_dict.setdefault("span_id", trace.format_span_id(span_context.span_id))
    request_id = _request_id.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


# --------------------------------------------------------------------------- traceparent strings


def new_traceparent() -> str:
    """Start a new trace: ``00-<32 hex trace id>-<16 hex span id>-01`` (sampled)."""
    return f"00-{trace.format_trace_id(_ids.generate_trace_id())}-{trace.format_span_id(_ids.generate_span_id())}-01"


def parse_traceparent(value: str | bytes | None) -> str | None:
    """`value` normalised to a version-00 traceparent, or None if it is not valid.

    W3C rules, as the OpenTelemetry propagator applies them; upper-case hex is accepted and
    bytes (a raw Kafka header value) are decoded as ASCII.
    """
    return _format(_span_context(value))


def trace_id_of(traceparent: str | bytes | None) -> str | None:
    """The 32-hex trace id of a traceparent, or None if it is not valid."""
    parsed = _span_context(traceparent)
    return trace.format_trace_id(parsed.trace_id) if parsed else None


def _span_context(value: str | bytes | None) -> SpanContext | None:
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not value:
        return None
    extracted = _PROPAGATOR.extract({"traceparent": value.strip().lower()}, context=otel_context.Context())
    span_context = trace.get_current_span(extracted).get_span_context()
    return span_context if span_context.is_valid else None


def _format(span_context: SpanContext | None) -> str | None:
    if span_context is None or not span_context.is_valid:
        return None
    trace_id, span_id = trace.format_trace_id(span_context.trace_id), trace.format_span_id(span_context.span_id)
    return f"00-{trace_id}-{span_id}-{int(span_context.trace_flags):02x}"
