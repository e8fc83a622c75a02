"""The evidence service's OpenAPI declarations beyond the route signatures (docs only: shared.web.openapi).

The upload reads its multipart form by hand (intake.py), so its body is declared here: `file`,
`meta` (one schema per kind, SPEC section 5 "Meta fields by kind", from meta.py's models) and
`kind`, or an application/json body that is the meta alone.
"""

from __future__ import annotations

from services.evidence.errors import (
    INTAKE_PROBLEMS,
    CaseClosed,
    CaseNotFound,
    CaseSubmitted,
    EvidenceNotFound,
    FileRequired,
    KindMismatch,
    MetaInvalid,
    MetaMalformed,
    MetaMissing,
    NoContent,
    ReportNotFound,
    TooManyMessages,
    UnknownKind,
    UnknownReasonCode,
    UnsupportedLanguage,
)
from services.evidence.meta import EvidenceMeta
from shared.contracts import EvidenceKind
from shared.web.openapi import BLOB_STORE_UNAVAILABLE, RouteDoc, RouteDocs, schema_of

_META_REF, _META_SCHEMAS = schema_of(EvidenceMeta, "EvidenceMeta")


TRACKING_META = {
    "kind": "tracking_record",
    "carrier": "CJ대한통운",
    "tracking_number": "651234567890",
    "status": "delivered",
    "delivered_at": "2026-10-28T14:22:00+09:00",
    "order_id": "3000987650001",
}

_UPLOAD = RouteDoc(
    request_body={
        "required": True,
        "description": (
            "multipart/form-data with `meta` (JSON), `kind` or both, and optionally `file` (at most one; PDF, "
            "JPEG, PNG, WebP or UTF-8 text). `kind` supplies the kind when meta has none (then `meta` may be "
            "left out: `{}`); both and different is 422 `kind_mismatch`; any other part is refused. Or an "
            "application/json body that is the meta alone (structured kinds only: a file kind needs its file)."
        ),
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "anyOf": [{"required": ["meta"]}, {"required": ["kind"]}],
                    "properties": {
                        "meta": {**_META_REF, "description": "JSON object: `kind` and the fields of that kind"},
                        "file": {"type": "string", "format": "binary"},
                        "kind": {"type": "string", "enum": [k.value for k in EvidenceKind]},
                    },
                    "additionalProperties": False,
                },
                "encoding": {"meta": {"contentType": "application/json"}},
                "example": {"meta": TRACKING_META},
            },
            "application/json": {"schema": _META_REF, "example": TRACKING_META},
        },
    },
    components=_META_SCHEMAS,
    errors=[
        *INTAKE_PROBLEMS,
        CaseNotFound,
        MetaMalformed,
        MetaMissing,
        UnknownKind,
        FileRequired,
        TooManyMessages,
        MetaInvalid,
        KindMismatch,
        CaseClosed,
        BLOB_STORE_UNAVAILABLE,
    ],
)

DOCS: RouteDocs = {
    "upload_evidence": _UPLOAD,
    "list_evidence": RouteDoc(errors=[CaseNotFound]),
    "evidence_content": RouteDoc(errors=[CaseNotFound, EvidenceNotFound, NoContent, BLOB_STORE_UNAVAILABLE]),
    "delete_evidence": RouteDoc(errors=[CaseNotFound, EvidenceNotFound, CaseSubmitted, CaseClosed]),
    "check_evidence": RouteDoc(errors=[CaseNotFound, UnsupportedLanguage]),
    "get_report": RouteDoc(errors=[CaseNotFound, ReportNotFound, UnsupportedLanguage]),
    "get_templates": RouteDoc(errors=[UnknownReasonCode, UnsupportedLanguage]),
}
