"""The notify service's OpenAPI declarations beyond the route signatures (docs only: shared.web.openapi).

PUT /v1/preferences reads its body as a JSON object and parses it itself (preferences.py), so
its refusals carry the service's codes; the document's schema is declared here.
"""

from __future__ import annotations

from services.notify.errors import (
    InvalidPreferences,
    InvalidSecret,
    NotificationNotFound,
    NotRetryable,
    PreferencesNotFound,
    SecretRequired,
    SellerRequired,
    TargetHttpsRequired,
    TargetLinkLocal,
    TargetLoopback,
    TargetMalformed,
    TargetMetadataAddress,
    TargetMulticast,
    TargetNotPublic,
    TargetPrivateAddress,
    TargetRefused,
    TargetUnresolvable,
    TargetUnspecified,
    UnknownChannelType,
    UnknownEvent,
    UnknownLanguage,
    UnknownTimezone,
)
from services.notify.schemas import PreferencesDocument
from shared.errors import InvalidCursor
from shared.web.openapi import BAD_REQUEST, NOT_FOUND, RouteDoc, RouteDocs, schema_of

_PREFS_REF, _PREFS_SCHEMAS = schema_of(PreferencesDocument, "PreferencesDocument")

_EXAMPLE = {
    "language": "zh",
    "events": ["dispute.received", "evidence.validated", "deadline.alerted", "case.submitted", "verdict.returned"],
    "min_amount": {"value": "10000", "currency": "KRW"},
    "quiet_hours": {"start": "22:00", "end": "08:00", "timezone": "Asia/Shanghai"},
    "channels": [
        {"type": "webhook", "url": "https://erp.example.com/hooks/disputes", "secret": "whsec_" + "A" * 44},
        {"type": "email", "to": ["ops@example.com"]},
    ],
}

_REFUSALS = [
    UnknownLanguage,
    UnknownEvent,
    UnknownChannelType,
    InvalidSecret,
    SecretRequired,
    UnknownTimezone,
    InvalidPreferences,
    TargetMalformed,
    TargetHttpsRequired,
    TargetMetadataAddress,
    TargetLoopback,
    TargetPrivateAddress,
    TargetLinkLocal,
    TargetMulticast,
    TargetUnspecified,
    TargetNotPublic,
    TargetUnresolvable,
    TargetRefused,
]

DOCS: RouteDocs = {
    "get_preferences": RouteDoc(errors=[SellerRequired, PreferencesNotFound, NOT_FOUND]),
    "put_preferences": RouteDoc(
        errors=[BAD_REQUEST, SellerRequired, NOT_FOUND, *_REFUSALS],
        request_body={
            "required": True,
            "content": {"application/json": {"schema": _PREFS_REF, "example": _EXAMPLE}},
        },
        components=_PREFS_SCHEMAS,
    ),
    "list_notifications": RouteDoc(errors=[NOT_FOUND, InvalidCursor]),
    "get_notification": RouteDoc(errors=[NotificationNotFound]),
    "retry_notification": RouteDoc(errors=[NotificationNotFound, NotRetryable]),
}
