"""Domain errors: what a use case raises when it refuses, in words that are not HTTP.

The same service code runs behind an HTTP route and behind a Kafka handler, so it never
raises HTTP errors. It raises a `DomainError` subclass instead::

    class CaseNotFound(DomainError):
        code = "case_not_found"

    raise CaseNotFound("No case with this id.", case_id=case_id)

Over HTTP each service's table (`shared.web.problems.ProblemTable`) turns the class into a
problem response; in a Kafka handler the error is logged, retried or dead-lettered like any
other. `detail` and the keyword data are sent to the caller as they are, so they must be
safe to show: ids and counts, never personal data, secrets or raw input.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["DomainError", "InvalidCursor", "NotFound", "Unavailable"]


class DomainError(Exception):
    """Base of every refusal of a use case; subclasses set a stable, snake_case `code`."""

    code: ClassVar[str] = "domain_error"

    def __init__(self, detail: str | None = None, **data: Any) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.data = data  # extension members of the problem: JSON-serialisable and safe to show

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, detail={self.detail!r})"


class NotFound(DomainError):
    """No such thing for this caller: unknown, or another seller's (`Principal.can_see` said no).

    One answer for both, 404 `not_found`, because a 403 would confirm that the id exists. A
    service's own not-found errors subclass it and keep their codes (`CaseNotFound`,
    `DeadlineNotFound`, ...); every service's problem table maps this base (shared/web/problems.py).
    """

    code = "not_found"


class InvalidCursor(DomainError):
    """A list's `cursor` is not one the API gave out (`shared.cursor.decode_cursor`): 400 `invalid_cursor`."""

    code = "invalid_cursor"


class Unavailable(Exception):
    """Something a request needs is away or refuses us (the blob store, ...): not a refusal of the request.

    Not a `DomainError`: the caller did nothing wrong and the same request may work in a moment, so
    every service answers 503 with the subclass's `code` and `title` and `Retry-After`
    (shared/web/problems.py), like `database_unavailable`. `detail` goes to the caller (safe to show:
    no endpoint, bucket or credentials); `reason` only to the log.
    """

    code: ClassVar[str] = "service_unavailable"
    title: ClassVar[str] = "Service unavailable"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(f"{detail} ({reason})")
        self.detail = detail
        self.reason = reason
