"""What the ingest use cases refuse, and how each refusal answers over HTTP (`ERRORS`)."""

from __future__ import annotations

from shared.errors import DomainError, NotFound
from shared.web.multipart import MalformedMultipart, PartHeadersTooLarge
from shared.web.problems import Problem, ProblemTable


class SellerExists(DomainError):
    code = "seller_exists"


class SellerNotFound(NotFound):
    code = "seller_not_found"


class SignatureError(DomainError):
    """Base of every webhook that is not proven to come from the seller: 401, nothing stored."""

    code = "invalid_signature"


class SignatureMissing(SignatureError):
    code = "signature_missing"


class SignatureTimestampOutOfRange(SignatureError):
    code = "signature_timestamp_out_of_range"


class SignatureMismatch(SignatureError):
    code = "invalid_signature"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class MalformedJson(DomainError):
    code = "malformed_json"


class MissingSeller(DomainError):
    code = "seller_id_required"


class BuyerNotFound(NotFound):
    code = "buyer_not_found"


class PlanNotSet(DomainError):
    code = "plan_not_set"


class InvalidPlan(DomainError):
    code = "invalid_plan"


class ExchangeRateMissing(DomainError):
    code = "exchange_rate_missing"


class CaseNotFound(NotFound):
    code = "case_not_found"


class CaseNotOpen(DomainError):
    code = "case_not_open"


class InvalidCsv(DomainError):
    code = "invalid_csv"


class CsvHeaderInvalid(InvalidCsv):
    code = "csv_header_invalid"


class CsvNotText(InvalidCsv):
    code = "csv_not_text"


class UnsupportedContentType(DomainError):
    """The import's body is neither CSV text nor a multipart upload."""

    code = "unsupported_content_type"


class UploadPartsInvalid(DomainError):
    """A well-formed multipart upload with the wrong parts (the CSV is its one `file` part)."""

    code = "upload_parts_invalid"


class CsvFileMissing(UploadPartsInvalid):
    code = "csv_file_missing"


class TooManyFiles(UploadPartsInvalid):
    code = "too_many_files"


class UnexpectedPart(UploadPartsInvalid):
    code = "unexpected_part"


ERRORS: ProblemTable = {
    SellerExists: Problem(409, "seller_exists", "Seller already onboarded"),
    SellerNotFound: Problem(404, "seller_not_found", "Seller not found"),
    SignatureMissing: Problem(401, "signature_missing", "Webhook signature missing"),
    SignatureTimestampOutOfRange: Problem(401, "signature_timestamp_out_of_range", "Webhook timestamp out of range"),
    SignatureError: Problem(401, "invalid_signature", "Invalid webhook signature"),
    PayloadTooLarge: Problem(413, "payload_too_large", "Payload too large"),
    MalformedJson: Problem(400, "malformed_json", "Malformed JSON"),
    MissingSeller: Problem(422, "seller_id_required", "Seller id required"),
    BuyerNotFound: Problem(404, "buyer_not_found", "Buyer not found"),
    PlanNotSet: Problem(409, "plan_not_set", "No fee plan set for this seller"),
    InvalidPlan: Problem(422, "invalid_plan", "Invalid fee plan"),
    ExchangeRateMissing: Problem(409, "exchange_rate_missing", "Exchange rate missing"),
    CaseNotFound: Problem(404, "case_not_found", "Case not found"),
    CaseNotOpen: Problem(409, "case_not_open", "Case is not open"),
    CsvHeaderInvalid: Problem(422, "csv_header_invalid", "CSV header not as expected"),
    CsvNotText: Problem(415, "csv_not_text", "Not a CSV text file"),
    InvalidCsv: Problem(422, "invalid_csv", "Invalid CSV"),
    UnsupportedContentType: Problem(415, "unsupported_content_type", "Send text/csv or multipart/form-data"),
    # The multipart reader's own refusals (shared/web/multipart.py), with the import's titles.
    MalformedMultipart: Problem(400, "malformed_multipart", "Malformed multipart body"),
    PartHeadersTooLarge: Problem(400, "part_headers_too_large", "Part headers too large"),
    CsvFileMissing: Problem(422, "csv_file_missing", "No file part in the upload"),
    TooManyFiles: Problem(422, "too_many_files", "More than one file in the upload"),
    UnexpectedPart: Problem(422, "unexpected_part", "Unexpected part in the upload"),
    UploadPartsInvalid: Problem(422, "upload_parts_invalid", "Upload parts not as expected"),
}
