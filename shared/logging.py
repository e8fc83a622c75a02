"""Structured JSON logs, one object per line on stdout, with buyers' personal data masked.

Dispute payloads carry buyer names, phone numbers and delivery addresses. Logs are kept
longer and read by more people than the dispute store, so values are kept only under keys
known to be safe (shared/log_policy.py) and personal data in free text is masked
(shared/masking.py) on the way out, whatever logged it: our code through structlog, or
uvicorn/aiokafka/SQLAlchemy through the stdlib `logging` module. Both go through one
`ProcessorFormatter`, so they get the same fields, the same masking and the same JSON.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from shared.log_policy import allow_log_keys, filter_log_values, strip_validation_exc_info
from shared.tracing import add_trace_ids

__all__ = ["allow_log_keys", "configure_logging"]

# Loggers that install their own handlers or stop propagation; we take them back so that
# their lines come out as JSON too (uvicorn must then run with log_config=None).
_ADOPTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "aiokafka", "sqlalchemy", "alembic")


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stdout` (or `sys.stderr`) is at emit time (pytest's capture swaps it)."""

    def __init__(self, to_stderr: bool = False) -> None:
        super().__init__()
        self._to_stderr = to_stderr

    @property
    def stream(self) -> Any:
        return sys.stderr if self._to_stderr else sys.stdout

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _add_service(service: str) -> Processor:
    def add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


_LEADING_FIELDS = ("timestamp", "level", "service", "event")


def _lead_with_standard_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    # Same first fields on every line, so a human scanning raw output finds them.
    lead = {key: event_dict.pop(key) for key in _LEADING_FIELDS if key in event_dict}
    return {**lead, **event_dict}


def configure_logging(
    service: str, level: str = "INFO", safe_keys: Iterable[str] = (), *, to_stderr: bool = False
) -> None:
    """Send all logs of this process to stdout as masked JSON lines. Safe to call again.

    ``to_stderr`` is for commands whose stdout is their answer (`dd dlq list --json`).

    Each line has ``timestamp`` (ISO 8601, UTC), ``level``, ``service``, ``event`` and the
    bound context (``trace_id``, ``request_id``, ``dispute_id``, ...). Run uvicorn with
    ``log_config=None`` so it does not put its own handlers back afterwards.

    Values are filtered by key (shared/log_policy.py): ``safe_keys`` adds this service's
    keys whose values are safe to log as they are (codes, enums), like ``allow_log_keys``.
    """
    allow_log_keys(*safe_keys)
    # Run on both structlog events and stdlib records, before the formatter's own chain.
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        # Not cached: a cached logger ignores later configuration, which would make
        # structlog.testing.capture_logs miss module-level loggers in tests.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _add_service(service),
            strip_validation_exc_info,
            structlog.processors.format_exc_info,
            # Last before rendering, so tracebacks and positional args are masked too.
            filter_log_values,
            _lead_with_standard_fields,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )
    handler = _StdoutHandler(to_stderr)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    # Idempotence: replace the handler a previous call installed, keep anyone else's.
    for old in [h for h in root.handlers if isinstance(h, _StdoutHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())

    for name in _ADOPTED_LOGGERS:
        adopted = logging.getLogger(name)
        adopted.handlers.clear()
        adopted.propagate = True
    # httpx logs every request line (full URL included) at INFO: too chatty for a service.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
