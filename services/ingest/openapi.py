"""The ingest service's OpenAPI declarations beyond the route signatures (docs only: shared.web.openapi).

Keyed by route name (the function in api.py). The webhook and the CSV import read their bodies by
hand, so their bodies, headers and refusals are declared here; every other route names the domain
errors it may raise, whose status and code come from `ERRORS`.
"""

from __future__ import annotations

from services.ingest.errors import (
    BuyerNotFound,
    CaseNotFound,
    CaseNotOpen,
    CsvFileMissing,
    CsvHeaderInvalid,
    CsvNotText,
    ExchangeRateMissing,
    InvalidCsv,
    InvalidPlan,
    MalformedJson,
    MissingSeller,
    PayloadTooLarge,
    PlanNotSet,
    SellerExists,
    SellerNotFound,
    SignatureMismatch,
    SignatureMissing,
    SignatureTimestampOutOfRange,
    TooManyFiles,
    UnexpectedPart,
    UnsupportedContentType,
)
from services.ingest.schemas import Notice
from shared.errors import InvalidCursor
from shared.web.multipart import MalformedMultipart, PartHeadersTooLarge
from shared.web.openapi import NOT_FOUND, RouteDoc, RouteDocs, header, schema_of

_NOTICE_REF, _NOTICE_SCHEMAS = schema_of(Notice, "Notice")

NOTICE_EXAMPLE = {
    "event": "dispute.opened",
    "notice_id": "N-20261102-0001",
    "notified_at": "2026-11-02T09:40:00+09:00",
    "disputes": [
        {
            "dispute_id": "CD-20261102-7781",
            "kind": "chargeback",
            "order_id": "3000987650001",
            "amount": {"value": "45000", "currency": "KRW"},
            "reason_code": "NOT_RECEIVED",
            "reason_text": "상품 미수령",
            "buyer_id": "B-77",
        }
    ],
}

CSV_EXAMPLE = (
    "dispute_id,kind,order_id,amount,currency,reason_code,notified_at,status,buyer_id\n"
    "CD-20261102-7781,chargeback,3000987650001,45000,KRW,NOT_RECEIVED,2026-11-02T09:40:00+09:00,open,B-77\n"
)

_WEBHOOK = RouteDoc(
    request_body={
        "required": True,
        "description": (
            "One notice (`event` picks the shape), signed with the seller's webhook secret "
            "(Standard Webhooks: the signature covers `webhook-id.webhook-timestamp.body`)."
        ),
        "content": {"application/json": {"schema": _NOTICE_REF, "example": NOTICE_EXAMPLE}},
    },
    parameters=[
        header(
            "webhook-id", "Unique per delivery; a repeat is acknowledged with 200 and changes nothing.", maxLength=200
        ),
        header(
            "webhook-timestamp", "Unix seconds; refused when more than 5 minutes from our clock.", pattern="^[0-9]+$"
        ),
        header("webhook-signature", "`v1,<base64 HMAC-SHA256>`; several, space-separated, during a secret rotation."),
    ],
    responses={
        200: {
            "description": "A repeated webhook-id: the first delivery's answer, with `replayed` set",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NoticeAnswer"}}},
        }
    },
    components=_NOTICE_SCHEMAS,
    errors=[
        SignatureMissing,
        SignatureTimestampOutOfRange,
        SignatureMismatch,
        PayloadTooLarge,
        MalformedJson,
        SellerNotFound,
    ],
)

_IMPORT = RouteDoc(
    request_body={
        "required": True,
        "description": (
            "The CSV export itself (UTF-8 with or without BOM, GB18030 or CP949; `; charset=` or `?charset=` "
            "names it), or a multipart form with the CSV as its one `file` part."
        ),
        "content": {
            "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary", "description": "the CSV file"}},
                    "additionalProperties": False,
                },
                "encoding": {"file": {"contentType": "text/csv"}},
                "example": {"file": CSV_EXAMPLE},
            },
        },
    },
    errors=[
        MissingSeller,
        NOT_FOUND,
        SellerNotFound,
        PayloadTooLarge,
        UnsupportedContentType,
        MalformedMultipart,
        PartHeadersTooLarge,
        CsvFileMissing,
        TooManyFiles,
        UnexpectedPart,
        CsvHeaderInvalid,
        CsvNotText,
        InvalidCsv,
    ],
)

_SELLER = {"seller_id": "V900", "name": "Shenzhen Demo Trading", "contact": "ops@example.cn"}
_RULES = {
    "auto_accept": {"below": {"value": "10000", "currency": "KRW"}, "mode": "accept"},
    "language": "zh",
    "carrier_templates": ["cj"],
}
_PLAN = {
    "tier": "pro",
    "base_fee": "299",
    "case_fee_domestic": "15",
    "case_fee_international": "25",
    "commission_rate": "0.04",
    "commission_cap": "200",
    "currency": "CNY",
}

DOCS: RouteDocs = {
    "coupang_webhook": _WEBHOOK,
    "import_disputes": _IMPORT,
    "create_seller": RouteDoc(errors=[SellerExists], example=_SELLER),
    "list_sellers": RouteDoc(errors=[InvalidCursor]),
    "get_seller": RouteDoc(errors=[SellerNotFound]),
    "rotate_webhook_secret": RouteDoc(errors=[SellerNotFound]),
    "get_rules": RouteDoc(errors=[SellerNotFound]),
    "put_rules": RouteDoc(errors=[SellerNotFound], example=_RULES),
    "put_plan": RouteDoc(errors=[SellerNotFound, InvalidPlan], example=_PLAN),
    "get_plan": RouteDoc(errors=[SellerNotFound, PlanNotSet]),
    "put_rates": RouteDoc(example={"plan_currency": "CNY", "rates": {"KRW": "0.0052", "USD": "7.1"}}),
    "get_rates": RouteDoc(errors=[ExchangeRateMissing]),
    "get_statement": RouteDoc(errors=[SellerNotFound, PlanNotSet, ExchangeRateMissing]),
    "buyer_risk": RouteDoc(errors=[MissingSeller, NOT_FOUND, BuyerNotFound]),
    "stats": RouteDoc(errors=[NOT_FOUND]),
    "list_cases": RouteDoc(errors=[NOT_FOUND, InvalidCursor]),
    "get_case": RouteDoc(errors=[CaseNotFound]),
    "accept_case": RouteDoc(errors=[CaseNotFound, CaseNotOpen]),
}
