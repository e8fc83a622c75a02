"""What the API reads: one deadline with its reminders, and the at-risk list (seller-scoped)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.deadline.domain import parse_duration
from services.deadline.errors import DeadlineNotFound
from services.deadline.repository import DeadlineRepository
from shared.cursor import decode_cursor, encode_cursor
from shared.web.auth import Principal


async def get_deadline(session: AsyncSession, principal: Principal, dispute_id: str) -> tuple[Any, list[Any]]:
    repo = DeadlineRepository(session)
    row = await repo.deadline(dispute_id)
    if row is None or not principal.can_see(row.seller_id):
        raise DeadlineNotFound("No deadline for this dispute id.", dispute_id=dispute_id)  # another seller's: 404 too
    return row, await repo.reminders_of(dispute_id)


async def at_risk(
    session: AsyncSession,
    *,
    seller_id: str | None,
    due_within: str | None,
    now: datetime,
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """Open deadlines, most urgent first; with `due_within` (24h, 90m, 2d; `InvalidDuration` otherwise)
    only those due by `now` plus that long."""
    due_before = now + parse_duration(due_within) if due_within is not None else None
    rows = await DeadlineRepository(session).at_risk(
        seller_id=seller_id, due_before=due_before, after=decode_cursor(cursor, datetime, str), limit=limit + 1
    )  # the sort key: due_at, dispute_id
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].due_at, rows[-1].dispute_id) if more else None
