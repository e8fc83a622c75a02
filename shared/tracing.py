"""W3C trace context (https://www.w3.org/TR/trace-context/) carried through HTTP, Kafka and logs.

One dispute crosses five services; the `traceparent` lets an operator follow it from the
portal webhook to the submitted evidence by grepping one trace id in the logs.

The current traceparent and request id live in `ContextVar`s, so each asyncio task (one
HTTP request, one consumed Kafka message) sees its own values:

- `RequestContextMiddleware` (shared.web.middleware) opens a scope per HTTP request;
- the Kafka consumer opens one per handled message from the `traceparent` header;
- the outbox copies `current_traceparent()` into the headers of every event it queues.

We keep no span tree and export nothing: the span id only tells hops apart.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import structlog

__all__ = [
    "child_of",
    "current_request_id",
    "current_traceparent",
    "new_traceparent",
    "parse_traceparent",
    "trace_id_of",
    "trace_scope",
]

_traceparent: ContextVar[str | None] = ContextVar("dd_traceparent", default=None)
_request_id: ContextVar[str | None] = ContextVar("dd_request_id", default=None)

# version-traceid-parentid-flags; a future version may append "-<more fields>".
_TRACEPARENT = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace_id>[0-9a-f]{32})-(?P<span_id>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<rest>-.*)?"
)
_ZERO_TRACE_ID = "0" * 32
_ZERO_SPAN_ID = "0" * 16
_SAMPLED = "01"


def _trace_id() -> str:
    trace_id = secrets.token_hex(16)
    # All-zero ids are invalid; 1 in 2**128, but cheap to rule out.
    return trace_id if trace_id != _ZERO_TRACE_ID else _trace_id()


def _span_id() -> str:
    span_id = secrets.token_hex(8)
    return span_id if span_id != _ZERO_SPAN_ID else _span_id()


def new_traceparent() -> str:
    """Start a new trace: ``00-<32 hex trace id>-<16 hex span id>-01`` (sampled)."""
    return f"00-{_trace_id()}-{_span_id()}-{_SAMPLED}"


def parse_traceparent(value: str | bytes | None) -> str | None:
    """Return `value` normalised to a version-00 traceparent, or None if it is not valid.

    Follows the W3C parsing rules: surrounding whitespace is ignored; version ``ff`` and
    all-zero trace or parent ids are invalid; version 00 must be exactly four fields, while
    a higher version may carry extra fields, which we drop (we only speak version 00).
    Upper-case hex is accepted and lower-cased, being lenient in what we take from portals.
    Bytes (a raw Kafka header value) are decoded as ASCII.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    match = _TRACEPARENT.fullmatch(value.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.group("version", "trace_id", "span_id", "flags", "rest")
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE_ID or span_id == _ZERO_SPAN_ID:
        return None
    return f"00-{trace_id}-{span_id}-{flags}"


def trace_id_of(traceparent: str | bytes | None) -> str | None:
    """The 32-hex trace id of a traceparent, or None if it is not valid."""
    parsed = parse_traceparent(traceparent)
    return parsed.split("-")[1] if parsed else None


def child_of(traceparent: str | bytes | None) -> str:
    """The traceparent of the next hop: same trace id and flags, new span id.

    A missing or invalid parent starts a new trace, so the caller always gets something
    it can send on.
    """
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return new_traceparent()
    _, trace_id, _, flags = parsed.split("-")
    return f"00-{trace_id}-{_span_id()}-{flags}"


def current_traceparent() -> str | None:
    """The traceparent of the work in progress (HTTP request or consumed event), if any."""
    return _traceparent.get()


def current_request_id() -> str | None:
    """The id of the HTTP request being served, if any (None inside Kafka handlers)."""
    return _request_id.get()


@contextmanager
def trace_scope(traceparent: str | bytes | None, request_id: str | None = None) -> Iterator[None]:
    """Make `traceparent` and `request_id` current until the block exits.

    The traceparent is normalised with `parse_traceparent`; an invalid one counts as None.
    Both values replace the outer ones, None included (a Kafka handler run from inside a
    request must not log that request's id), and the outer ones come back on exit. The same
    values are bound as ``trace_id`` / ``request_id`` in ``structlog.contextvars`` so every
    log line written inside the block carries them; None leaves the key out of log lines.

    Pass ``child_of(header)`` rather than the raw header when this hop should get its own
    span id; ``trace_scope(None)`` means "no trace": events queued inside carry none.
    """
    normalised = parse_traceparent(traceparent)
    tp_token = _traceparent.set(normalised)
    rid_token = _request_id.set(request_id)

    log_fields = {"trace_id": trace_id_of(normalised), "request_id": request_id}
    present = {key: value for key, value in log_fields.items() if value is not None}
    absent = [key for key, value in log_fields.items() if value is None]
    outer = structlog.contextvars.get_contextvars()
    log_tokens = structlog.contextvars.bind_contextvars(**present)
    structlog.contextvars.unbind_contextvars(*absent)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**log_tokens)
        # unbind_contextvars hands back no token, so put the outer values back by hand.
        structlog.contextvars.bind_contextvars(**{key: outer[key] for key in absent if key in outer})
        _request_id.reset(rid_token)
        _traceparent.reset(tp_token)
