"""What the evidence use cases refuse, and how each refusal answers over HTTP (`ERRORS`).

The upload's own refusals (413 over the limit, 415 type not allowed or not matching, 400 broken
multipart or a body that is neither multipart nor JSON) come from `intake.py` with their table
`INTAKE_PROBLEMS`, merged in here.
"""

from __future__ import annotations

from services.evidence.intake import INTAKE_PROBLEMS
from shared.errors import DomainError
from shared.web.problems import Problem, ProblemTable


class CaseNotFound(DomainError):
    """Unknown dispute, or another seller's (404 either way: a 403 would confirm it exists)."""

    code = "case_not_found"


class EvidenceNotFound(DomainError):
    code = "evidence_not_found"


class NoContent(DomainError):
    """A structured item that came without a file has no bytes to answer."""

    code = "evidence_has_no_file"


class ReportNotFound(DomainError):
    code = "report_not_found"


class MetaInvalid(DomainError):
    """`meta` is JSON but not what its kind takes: `errors[]` says which field and why."""

    code = "invalid_meta"


class MetaMalformed(MetaInvalid):
    code = "malformed_meta"


class MetaMissing(MetaInvalid):
    code = "meta_required"


class UnknownKind(MetaInvalid):
    code = "unknown_kind"


class FileRequired(MetaInvalid):
    """A kind that is a file by nature (a photo, a listing, a label) came without one."""

    code = "file_required"


class TooManyMessages(MetaInvalid):
    code = "too_many_messages"


class CaseSubmitted(DomainError):
    code = "case_submitted"


class UnsupportedLanguage(DomainError):
    code = "unsupported_language"


class UnknownReasonCode(DomainError):
    code = "unknown_reason_code"


ERRORS: ProblemTable = {
    **INTAKE_PROBLEMS,
    CaseNotFound: Problem(404, "case_not_found", "Case not found"),
    EvidenceNotFound: Problem(404, "evidence_not_found", "Evidence not found"),
    NoContent: Problem(404, "evidence_has_no_file", "This evidence item has no file"),
    ReportNotFound: Problem(404, "report_not_found", "No report yet"),
    MetaMalformed: Problem(400, "malformed_meta", "meta is not a JSON object"),
    MetaMissing: Problem(422, "meta_required", "meta is required"),
    UnknownKind: Problem(422, "unknown_kind", "Unknown evidence kind"),
    FileRequired: Problem(422, "file_required", "This kind needs a file"),
    TooManyMessages: Problem(422, "too_many_messages", "Too many messages in one log"),
    MetaInvalid: Problem(422, "invalid_meta", "Invalid meta"),
    CaseSubmitted: Problem(409, "case_submitted", "The case was submitted: its evidence can no longer be deleted"),
    UnsupportedLanguage: Problem(422, "unsupported_language", "Language must be zh, ko or en"),
    UnknownReasonCode: Problem(422, "unknown_reason_code", "Unknown reason code"),
}
