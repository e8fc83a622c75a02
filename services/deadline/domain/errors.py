"""Domain errors of the deadline clock: one stable `code` each, mapped to HTTP or a dead letter by the caller."""

from __future__ import annotations

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


class DeadlineError(ValueError):
    """Bad input to the clock. `code` is the contract (problem+json `code`, dead-letter reason)."""

    code: str = "deadline_error"

    def __init__(self, detail: str) -> None:
        super().__init__(f"{self.code}: {detail}")
        self.detail = detail


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
