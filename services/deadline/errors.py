"""What the deadline use cases refuse, and how each refusal answers over HTTP (`ERRORS`).

The clock's own errors (`domain.DeadlineError` and its subclasses, each with a stable `code`)
are `DomainError`s already: over HTTP they answer through the rows below; in a Kafka handler
they become a `RejectedEvent`, which the consumer treats as permanent and dead-letters at once
with the code. The refusals that only a use case knows (a missing deadline, a duplicate date)
are defined here.
"""

from __future__ import annotations

from services.deadline.domain import (
    CalendarExhausted,
    DeadlineError,
    InvalidDuration,
    InvalidOverride,
    InvalidOverrideDate,
)
from shared.contracts import EventParseError
from shared.errors import DomainError, NotFound
from shared.web.problems import Problem, ProblemTable


class DeadlineNotFound(NotFound):
    code = "deadline_not_found"


class DuplicateOverrideDate(DomainError):
    code = "duplicate_override_date"


class RejectedEvent(EventParseError):
    """An event the clock refuses (naive time, respond_by before the notice, unknown kind).

    A subclass of `EventParseError` because that is what the consumer treats as permanent: no
    retries, straight to `<topic>.dlq`, with `code: detail` as the reason (`dd-error`).
    """

    def __init__(self, exc: DeadlineError) -> None:
        super().__init__(f"{exc.code}: {exc.detail}")
        self.code = exc.code


ERRORS: ProblemTable = {
    DeadlineNotFound: Problem(404, "deadline_not_found", "Deadline not found"),
    InvalidDuration: Problem(422, "invalid_duration", "Not a duration"),
    InvalidOverrideDate: Problem(422, "invalid_override_date", "Not a date (YYYY-MM-DD)"),
    InvalidOverride: Problem(422, "invalid_override", "Invalid calendar override"),
    DuplicateOverrideDate: Problem(422, "duplicate_override_date", "Two overrides for one date"),
    CalendarExhausted: Problem(409, "calendar_exhausted", "No business day left to count"),
}
