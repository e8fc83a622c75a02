"""What the API reads: one deadline with its reminders, and the at-risk list (seller-scoped)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.deadline.errors import DeadlineNotFound, InvalidCursor
from services.deadline.repository import DeadlineRepository
from shared.web.auth import Principal


async def get_deadline(session: AsyncSession, principal: Principal, dispute_id: str) -> tuple[Any, list[Any]]:
    repo = DeadlineRepository(session)
    row = await repo.deadline(dispute_id)
    if row is None or not (principal.is_operator or principal.seller_id == row.seller_id):
        raise DeadlineNotFound("No deadline for this dispute id.", dispute_id=dispute_id)  # another seller's: 404 too
    return row, await repo.reminders_of(dispute_id)


async def at_risk(
    session: AsyncSession, *, seller_id: str | None, due_before: datetime | None, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    rows = await DeadlineRepository(session).at_risk(
        seller_id=seller_id, due_before=due_before, after=decode_cursor(cursor), limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]) if more else None


def encode_cursor(row: Any) -> str:
    raw = json.dumps([row.due_at.isoformat(), row.dispute_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    try:
        due_at, dispute_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        due = datetime.fromisoformat(due_at)
        if not isinstance(dispute_id, str) or due.tzinfo is None:
            raise ValueError("bad cursor")
        return due, dispute_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("The cursor is not one this API gave out.") from None
