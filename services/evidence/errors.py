"""What the evidence use cases refuse, and how each refusal answers over HTTP (`ERRORS`).

The upload's own refusals (413 over the limit, 415 type not allowed or not matching, 400 broken
multipart or a body that is neither multipart nor JSON) are raised by `intake.py` and `media.py`,
the broken multipart by the shared reader (`shared.web.multipart`: `MalformedMultipart`,
`PartHeadersTooLarge`); their table `INTAKE_PROBLEMS` is merged into `ERRORS`.
"""

from __future__ import annotations

from shared.errors import DomainError, NotFound
from shared.web.multipart import MalformedMultipart, PartHeadersTooLarge
from shared.web.problems import Problem, ProblemTable

# ---- the upload's own refusals (intake.py, media.py); the staged file is gone when one is raised


class IntakeError(DomainError):
    """Base of every refusal of an upload; the staged file is gone when one is raised."""

    code = "malformed_multipart"


class MetaNotUtf8(IntakeError):
    code = "meta_not_utf8"


class PayloadTooLarge(IntakeError):
    code = "payload_too_large"


class MetaTooLarge(IntakeError):
    code = "meta_too_large"


class UnsupportedMediaType(IntakeError):
    code = "unsupported_media_type"


class MediaTypeMismatch(IntakeError):
    code = "media_type_mismatch"


class EmptyFile(IntakeError):
    code = "empty_file"


# The multipart reader's own refusals (shared/web/multipart.py), raised by intake.py too for a part it
# does not take; mapped here with the upload's titles.
INTAKE_PROBLEMS: ProblemTable = {
    MalformedMultipart: Problem(400, "malformed_multipart", "Malformed upload"),
    PartHeadersTooLarge: Problem(400, "part_headers_too_large", "Part headers too large"),
    MetaNotUtf8: Problem(400, "meta_not_utf8", "Meta is not UTF-8 text"),
    PayloadTooLarge: Problem(413, "payload_too_large", "Payload too large"),
    MetaTooLarge: Problem(413, "meta_too_large", "Meta too large"),
    UnsupportedMediaType: Problem(415, "unsupported_media_type", "Unsupported media type"),
    MediaTypeMismatch: Problem(415, "media_type_mismatch", "Media type does not match the content"),
    EmptyFile: Problem(422, "empty_file", "Empty file"),
}


# ---- the use cases' refusals


class CaseNotFound(NotFound):
    """Unknown dispute, or another seller's (404 either way: a 403 would confirm it exists)."""

    code = "case_not_found"


class EvidenceNotFound(NotFound):
    code = "evidence_not_found"


class NoContent(DomainError):
    """A structured item that came without a file has no bytes to answer."""

    code = "evidence_has_no_file"


class ReportNotFound(NotFound):
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


class KindMismatch(MetaInvalid):
    """The upload's `kind` part and meta's `kind` both came and name different kinds."""

    code = "kind_mismatch"


class CaseClosed(DomainError):
    """The case was accepted or closed (`dispute.updated`): its evidence set takes no more changes."""

    code = "case_closed"


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
    KindMismatch: Problem(422, "kind_mismatch", "The kind part and meta's kind differ"),
    FileRequired: Problem(422, "file_required", "This kind needs a file"),
    TooManyMessages: Problem(422, "too_many_messages", "Too many messages in one log"),
    MetaInvalid: Problem(422, "invalid_meta", "Invalid meta"),
    CaseClosed: Problem(409, "case_closed", "The case was accepted or closed: its evidence can no longer change"),
    CaseSubmitted: Problem(409, "case_submitted", "The case was submitted: its evidence can no longer be deleted"),
    UnsupportedLanguage: Problem(422, "unsupported_language", "Language must be zh, ko or en"),
    UnknownReasonCode: Problem(422, "unknown_reason_code", "Unknown reason code"),
}
