"""What the deadline use cases refuse, and how each refusal answers over HTTP (`ERRORS`).

The clock's own errors (`domain.DeadlineError`, each with a stable `code`) become these
`DomainError`s at the edge: over HTTP a problem with that code; in a Kafka handler a
`RejectedEvent`, which the consumer treats as permanent and dead-letters at once with the code.
"""

from __future__ import annotations

from services.deadline.domain import DeadlineError
from shared.contracts import EventParseError
from shared.errors import DomainError, NotFound
from shared.web.problems import Problem, ProblemTable


class DeadlineNotFound(NotFound):
    code = "deadline_not_found"


class InvalidDuration(DomainError):
    code = "invalid_duration"


class InvalidOverrideDate(DomainError):
    code = "invalid_override_date"


class InvalidOverride(DomainError):
    code = "invalid_override"


class DuplicateOverrideDate(DomainError):
    code = "duplicate_override_date"


class CalendarRefused(DomainError):
    """An override set that would leave some open deadline with no business day to count."""

    code = "calendar_exhausted"


_BY_CODE: dict[str, type[DomainError]] = {
    cls.code: cls for cls in (InvalidDuration, InvalidOverrideDate, InvalidOverride, CalendarRefused)
}


def refused(exc: DeadlineError) -> DomainError:
    """The HTTP refusal for a clock error met while serving a request."""
    return _BY_CODE.get(exc.code, InvalidOverride)(exc.detail)


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
    CalendarRefused: Problem(409, "calendar_exhausted", "No business day left to count"),
}
