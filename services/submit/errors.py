"""What the submit use cases refuse, and how each refusal answers over HTTP (`ERRORS`).

409 for a case whose state forbids a submission now (no ready report, deadline passed, closed,
already submitted); 422 for a request that does not describe the case (`case_mismatch`) or a
receipt number that is not one WING gives out. The route module merges `ERRORS` into the app.
"""

from __future__ import annotations

from shared.errors import DomainError, NotFound
from shared.web.problems import Problem, ProblemTable


class CaseNotFound(NotFound):
    """Unknown dispute, or another seller's (404 either way)."""

    code = "case_not_found"


class EvidenceNotReady(DomainError):
    """No report, a `needs_fix` one, or the evidence set changed since it was checked (stale)."""

    code = "evidence_not_ready"


class DeadlinePassed(DomainError):
    code = "deadline_passed"


class CaseMismatch(DomainError):
    """The dispute id, order id or amount the seller confirmed is not the case's."""

    code = "case_mismatch"


class CaseClosed(DomainError):
    """The seller accepted the dispute, or it was closed outside the system: nothing to submit."""

    code = "case_closed"


class AlreadySubmitted(DomainError):
    code = "already_submitted"


class InvalidReceiptNumber(DomainError):
    """A manual (WING) receipt number not in the format WING gives out (`portal/manual.py`)."""

    code = "invalid_receipt_number"


ERRORS: ProblemTable = {
    CaseNotFound: Problem(404, "case_not_found", "Case not found"),
    EvidenceNotReady: Problem(409, "evidence_not_ready", "The evidence is not ready to submit"),
    DeadlinePassed: Problem(409, "deadline_passed", "The answer deadline has passed"),
    CaseClosed: Problem(409, "case_closed", "The case was accepted or closed"),
    AlreadySubmitted: Problem(409, "already_submitted", "The case was already submitted"),
    CaseMismatch: Problem(422, "case_mismatch", "The submission does not match the case"),
    InvalidReceiptNumber: Problem(422, "invalid_receipt_number", "Not a WING receipt number"),
}
