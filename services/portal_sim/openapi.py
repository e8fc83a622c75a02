"""The simulator's OpenAPI declarations beyond the route signatures (docs only: shared.web.openapi)."""

from __future__ import annotations

from shared.web.openapi import RouteDoc, RouteDocs, header
from shared.web.problems import Problem

_SIGNATURE = Problem(401, "signature_invalid", "Bad CEA signature")
_AUTH_HEADERS = (
    header("Authorization", "CEA algorithm=HmacSHA256, access-key=…, signed-date=yyMMddTHHmmssZ, signature=…"),
    header("X-Requested-By", "The vendor id of the path"),
)
_RECEIPT = {
    "receipt_id": "RCPT-3F2A9C1B7D00",
    "received_at": "2026-03-02T03:04:05+00:00",
    "package_sha256": "0" * 64,
    "dispute_id": "D-1",
    "state": "received",
    "outcome": None,
    "files": ["D-1_01_cover_letter.pdf"],
}
_RECEIPT_RESPONSE = {"content": {"application/json": {"schema": {"type": "object"}, "example": _RECEIPT}}}

DOCS: RouteDocs = {
    "submit_package": RouteDoc(
        request_body={
            "required": True,
            "description": (
                "The package ZIP as the raw body (Content-Type application/zip or application/octet-stream: the "
                "body is read as bytes either way), with manifest.json listing every file's sha256."
            ),
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}, "example": "PK…"}
            },
        },
        parameters=(
            *_AUTH_HEADERS,
            header("Idempotency-Key", "Same key and package: the same receipt"),
            header("X-Package-Sha256", "The body's sha256, checked when sent", required=False),
        ),
        responses={200: _RECEIPT_RESPONSE, 201: _RECEIPT_RESPONSE},
        errors=(
            _SIGNATURE,
            Problem(400, "idempotency_key_required", "Idempotency-Key is required"),
            Problem(422, "hash_mismatch", "A file is not its manifest sha256"),
            Problem(422, "package_invalid", "Not a ZIP with a manifest"),
            Problem(422, "package_hash_mismatch", "X-Package-Sha256 is not the body's"),
            Problem(422, "idempotency_key_reused", "Idempotency-Key used for another package"),
            Problem(429, "rate_limited", "Injected: too many requests"),
            Problem(500, "internal_error", "Injected: server error"),
            Problem(504, "timeout", "Injected: timeout"),
        ),
    ),
    "package_status": RouteDoc(
        parameters=_AUTH_HEADERS,
        responses={200: _RECEIPT_RESPONSE},
        errors=(_SIGNATURE, Problem(404, "package_not_found", "No package under this key")),
    ),
    "add_fault": RouteDoc(example={"fault": "429", "times": 2, "retry_after_s": 1}),
    "add_rule": RouteDoc(example={"seller_id": "V900", "outcome": "lost", "delay_s": 5}),
}
