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


class EvidenceUnavailable(DomainError):
    """The evidence service did not answer (or answered 5xx): nothing was stored, retry later."""

    code = "evidence_unavailable"


class IdempotencyKeyReused(DomainError):
    """The same `Idempotency-Key` came with another request body."""

    code = "idempotency_key_reused"


class IdempotencyKeyInvalid(DomainError):
    code = "idempotency_key_invalid"


class PortalRefused(DomainError):
    """The portal refused the package (a 4xx other than 429): nothing was submitted; fix and retry."""

    code = "portal_rejected"


class NotManual(DomainError):
    """A receipt number for a case whose submission is not waiting for a WING upload."""

    code = "not_manual"


class SubmissionNotFound(NotFound):
    code = "submission_not_found"


class VerdictSignatureInvalid(DomainError):
    code = "signature_invalid"


class VerdictInvalid(DomainError):
    code = "verdict_invalid"


ERRORS: ProblemTable = {
    CaseNotFound: Problem(404, "case_not_found", "Case not found"),
    EvidenceNotReady: Problem(409, "evidence_not_ready", "The evidence is not ready to submit"),
    DeadlinePassed: Problem(409, "deadline_passed", "The answer deadline has passed"),
    CaseClosed: Problem(409, "case_closed", "The case was accepted or closed"),
    AlreadySubmitted: Problem(409, "already_submitted", "The case was already submitted"),
    CaseMismatch: Problem(422, "case_mismatch", "The submission does not match the case"),
    InvalidReceiptNumber: Problem(422, "invalid_receipt_number", "Not a WING receipt number"),
    EvidenceUnavailable: Problem(503, "evidence_unavailable", "The evidence service is not answering"),
    IdempotencyKeyReused: Problem(422, "idempotency_key_reused", "Idempotency-Key reused with another request"),
    IdempotencyKeyInvalid: Problem(400, "idempotency_key_invalid", "Not a usable Idempotency-Key"),
    PortalRefused: Problem(422, "portal_rejected", "The portal refused the package"),
    NotManual: Problem(409, "not_manual", "The submission is not waiting for a WING receipt"),
    SubmissionNotFound: Problem(404, "submission_not_found", "No submission for this case"),
    VerdictSignatureInvalid: Problem(401, "signature_invalid", "Bad webhook signature"),
    VerdictInvalid: Problem(422, "verdict_invalid", "Not a verdict"),
}
