"""The one codec of list cursors: opaque to callers, the sort key of the last row given out.

A cursor is the URL-safe base64 (unpadded) of a JSON array of the key's parts in sort order,
each an `int`, a `str` or an aware `datetime` (as ISO 8601 text)::

    next_cursor = encode_cursor(row.due_at, row.dispute_id)
    after = decode_cursor(cursor, datetime, str)  # (due_at, dispute_id), or None for the first page

Anything that does not decode to exactly those kinds, in that order, is refused with
`InvalidCursor` (400 `invalid_cursor` in every service), never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from shared.errors import InvalidCursor

__all__ = ["CursorPart", "decode_cursor", "encode_cursor"]

CursorPart = int | str | datetime

_REFUSAL = "The cursor is not one this API gave out."


def encode_cursor(*parts: CursorPart) -> str:
    """The cursor of a row whose sort key is `parts`."""
    raw = json.dumps([part.isoformat() if isinstance(part, datetime) else part for part in parts]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, *kinds: type[CursorPart]) -> tuple[Any, ...] | None:
    """The sort key a cursor carries, part by part of `kinds`; None when there is no cursor."""
    if not cursor:
        return None
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(parts, list) or len(parts) != len(kinds):
            raise ValueError("bad cursor")
        return tuple(_part(value, kind) for value, kind in zip(parts, kinds, strict=True))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor(_REFUSAL) from None


def _part(value: object, kind: type[CursorPart]) -> CursorPart:
    if kind is datetime:
        if not isinstance(value, str):
            raise ValueError("bad cursor")
        instant = datetime.fromisoformat(value)
        if instant.tzinfo is None:
            raise ValueError("bad cursor")
        return instant
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    raise ValueError("bad cursor")
