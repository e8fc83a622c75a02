"""Domain errors of the deadline clock: one stable `code` each, mapped to HTTP or a dead letter by the caller.

They are the service's `DomainError`s too (there is no second `InvalidDuration` at the edge):
a route lets them through to the problem table (`services/deadline/errors.py`), a Kafka
handler turns them into a `RejectedEvent` dead letter. `shared.errors` is pure, no I/O.
"""

from __future__ import annotations

from typing import Any

from shared.errors import DomainError

__all__ = [
    "CalendarExhausted",
    "DeadlineError",
    "InvalidDuration",
    "InvalidOverride",
    "InvalidOverrideDate",
    "NaiveTimestamp",
    "RespondByBeforeNotice",
    "UnknownDisputeKind",
]


class DeadlineError(DomainError, ValueError):
    """Bad input to the clock. `code` is the contract (problem+json `code`, dead-letter reason).

    A `ValueError` as well, so a settings validator that calls the clock refuses as pydantic expects.
    """

    code = "deadline_error"

    def __init__(self, detail: str, **data: Any) -> None:
        super().__init__(detail, **data)
        self.args = (f"{self.code}: {detail}",)
        self.detail: str = detail


class NaiveTimestamp(DeadlineError):
    code = "naive_timestamp"


class RespondByBeforeNotice(DeadlineError):
    code = "respond_by_before_notice"


class UnknownDisputeKind(DeadlineError):
    code = "unknown_dispute_kind"


class InvalidOverrideDate(DeadlineError):
    code = "invalid_override_date"


class InvalidOverride(DeadlineError):
    """An override whose state is neither `closed` nor `open`."""

    code = "invalid_override"


class InvalidDuration(DeadlineError):
    code = "invalid_duration"


class CalendarExhausted(DeadlineError):
    """Overrides closed every day of the search window: no business day to count (an operator's mistake)."""

    code = "calendar_exhausted"
