"""The deadline service's OpenAPI declarations beyond the route signatures (docs only: shared.web.openapi)."""

from __future__ import annotations

from services.deadline.domain import CalendarExhausted, InvalidDuration, InvalidOverride, InvalidOverrideDate
from services.deadline.errors import DeadlineNotFound, DuplicateOverrideDate
from shared.errors import InvalidCursor
from shared.web.openapi import NOT_FOUND, RouteDoc, RouteDocs

_OVERRIDES = {
    "overrides": [
        {
            "date": "2026-12-31",
            "state": "closed",
            "name_ko": "연말 휴무",
            "name_zh": "年末休息",
            "note": "portal closed",
        }
    ]
}

DOCS: RouteDocs = {
    "get_deadline": RouteDoc(errors=[DeadlineNotFound]),
    "list_deadlines": RouteDoc(errors=[InvalidDuration, NOT_FOUND, InvalidCursor]),
    "put_overrides": RouteDoc(
        errors=[InvalidOverrideDate, InvalidOverride, DuplicateOverrideDate, CalendarExhausted], example=_OVERRIDES
    ),
}
