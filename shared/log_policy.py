"""What a log line may carry: an allowlist of keys, then masking of free text.

A regex list always misses some personal datum, so log lines are filtered by key first:

- keys known to be safe (ids, codes, counts, sizes, durations, topics, partitions, offsets,
  statuses, ports, the standard fields) keep their values;
- free-text keys (`event`, `error`, `detail`, `exception`, ...) keep their text, masked by
  `mask_text` (operators need errors);
- keys that name personal data (`buyer_name`, `phone`, `address`, ...) get a partial mask;
- any other key keeps numbers, booleans, timestamps, UUIDs and enums, but its strings are
  replaced by "[masked]" (dicts and lists are walked, so their safe keys still show).

A new key is therefore masked until someone declares it safe: `allow_log_keys("carrier")`
at import time of a service, or `configure_logging(..., safe_keys=[...])`.
"""

from __future__ import annotations

import functools
import sys
import traceback
from typing import Any

from structlog.typing import EventDict, WrappedLogger

from shared.masking import (
    SAFE,
    TEXT,
    UNKNOWN,
    _key_words,
    has_validation_error,
    mask_structure,
    personal_kind,
    strip_validation_inputs,
)

__all__ = ["allow_log_keys", "filter_log_values", "key_policy", "strip_validation_exc_info"]

# Exact keys. Standard fields first, then what shared/ and the services log today.
_SAFE_KEYS = {
    "level", "timestamp", "logger", "logger_name", "service", "request_id", "trace_id", "span_id",
    "parent_span_id", "traceparent", "tracestate", "dispute_id", "seller_id", "func_name", "lineno",
    "filename", "pathname", "module", "process", "process_name", "thread", "thread_name",
    "group", "topic", "partition", "offset", "attempt", "attempts", "size", "port", "part", "retry_in_s",
    "method", "path", "route", "status", "state", "outcome", "result", "reason_code", "error_type", "code",
    "dataschema", "subject", "schema", "table", "host", "lag", "version", "field", "loc", "kind", "type",
    "mode", "action", "direction", "phase", "stage", "role", "env", "source", "sink", "operation",
}  # fmt: skip

# Last word of a key ("outbox_rows", "duration_ms", "sent_at", "reason_code").
_SAFE_LAST_WORDS = {
    "id", "ids", "uuid", "code", "codes", "count", "counts", "total", "size", "sizes", "bytes", "len",
    "length", "ms", "s", "sec", "secs", "seconds", "ns", "us", "at", "status",
    "statuses", "state", "type", "types", "kind", "topic", "topics", "partition", "partitions", "offset",
    "offsets", "port", "attempt", "attempts", "version", "lag", "level", "rows", "limit", "batch",
    "group", "groups", "retries", "ttl", "timeout", "deadline",
}  # fmt: skip

# Free text an operator needs: kept, masked by pattern.
_TEXT_KEYS = {
    "event", "error", "errors", "detail", "exception", "exc_info", "exc", "stack", "stack_info",
    "traceback", "message", "msg", "warning", "hint",
}  # fmt: skip

_extra_safe: set[str] = set()


def allow_log_keys(*keys: str) -> None:
    """Declare more keys safe to log verbatim in this process (e.g. ``allow_log_keys("carrier")``).

    Declare only keys whose values cannot hold personal data: codes, enums, names of our
    own things. Their strings still go through the free-text masker.
    """
    _extra_safe.update(keys)
    key_policy.cache_clear()


@functools.lru_cache(maxsize=4096)
def key_policy(key: str) -> str | None:
    """A personal kind ("name", "phone", ...), SAFE, TEXT, or None for a key of no known meaning."""
    if key in _TEXT_KEYS:
        return TEXT
    if key in _SAFE_KEYS or key in _extra_safe:
        return SAFE
    kind = personal_kind(key)
    if kind:
        return kind
    words = _key_words(key)
    if words and words[-1] in _SAFE_LAST_WORDS:
        return SAFE
    return None


def filter_log_values(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: keep safe keys, mask personal and unknown ones (see the module doc)."""
    return {key: mask_structure(value, key_policy(key) or UNKNOWN, key_policy) for key, value in event_dict.items()}


def strip_validation_exc_info(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor, before `format_exc_info`: a traceback of a pydantic/FastAPI
    validation error (or of an error it caused) loses the input values it would print."""
    exc_info = event_dict.get("exc_info")
    if not exc_info:
        return event_dict
    exc: Any
    if isinstance(exc_info, BaseException):
        exc = exc_info
    elif isinstance(exc_info, tuple):
        exc = exc_info[1]
    else:
        exc = sys.exc_info()[1]
    if exc is None or not has_validation_error(exc):
        return event_dict  # format_exc_info renders it; the text masker sees it there
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip("\n")
    event_dict.pop("exc_info")
    event_dict["exception"] = strip_validation_inputs(text, exc)
    return event_dict
