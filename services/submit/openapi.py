"""The submit service's OpenAPI declarations beyond the route signatures (docs only: shared.web.openapi)."""

from __future__ import annotations

from services.submit.errors import (
    AlreadySubmitted,
    CaseClosed,
    CaseMismatch,
    CaseNotFound,
    DeadlinePassed,
    EvidenceNotReady,
    EvidenceUnavailable,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    InvalidReceiptNumber,
    NotManual,
    PortalRefused,
    SubmissionNotFound,
    VerdictInvalid,
    VerdictSignatureInvalid,
)
from shared.web.openapi import BLOB_STORE_UNAVAILABLE, RouteDoc, RouteDocs, header

_VERDICT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object"},
            "example": {
                "type": "verdict.returned",
                "data": {
                    "receipt_id": "RCPT-000001",
                    "dispute_id": "CD-20261102-7781",
                    "vendor_id": "V123",
                    "outcome": "won",
                    "amount": {"value": "45000", "currency": "KRW"},
                    "policy_clause": "쿠팡 판매자 이용약관 제21조 (분쟁 처리)",
                    "decided_at": "2026-11-05T03:00:00Z",
                },
            },
        }
    },
}

_BINARY = {"type": "string", "format": "binary"}

DOCS: RouteDocs = {
    "submit_case": RouteDoc(
        errors=[
            CaseNotFound,
            CaseMismatch,
            CaseClosed,
            AlreadySubmitted,
            DeadlinePassed,
            EvidenceNotReady,
            EvidenceUnavailable,
            IdempotencyKeyReused,
            IdempotencyKeyInvalid,
            PortalRefused,
            BLOB_STORE_UNAVAILABLE,
        ],
        responses={202: {"description": "Pending: the portal's answer (http) or the WING upload (manual) is awaited"}},
        example={
            "dispute_id": "CD-20261102-7781",
            "order_id": "3000987650001",
            "amount": {"value": "45000", "currency": "KRW"},
        },
    ),
    "get_submission": RouteDoc(errors=[CaseNotFound, SubmissionNotFound]),
    "get_package": RouteDoc(
        errors=[CaseNotFound, SubmissionNotFound, BLOB_STORE_UNAVAILABLE],
        responses={
            200: {
                "description": "The package ZIP",
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    ),
    "record_receipt": RouteDoc(
        errors=[CaseNotFound, SubmissionNotFound, InvalidReceiptNumber, NotManual],
        example={"receipt_number": "WING-2026-1203-000123"},
    ),
    "put_portal": RouteDoc(example={"adapter": "http", "endpoint": "http://127.0.0.1:8099", "vendor_id": "A00012345"}),
    "portal_verdict": RouteDoc(
        errors=[VerdictSignatureInvalid, VerdictInvalid, CaseNotFound],
        request_body=_VERDICT_BODY,
        parameters=[
            header("webhook-id", "Standard Webhooks message id"),
            header("webhook-timestamp", "Unix seconds"),
            header("webhook-signature", "v1,<base64 HMAC-SHA256>"),
        ],
    ),
}
