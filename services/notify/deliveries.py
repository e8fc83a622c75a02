"""The notifications use cases: list (a seller sees only its own) and retry (a failed one, due now)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import errors
from services.notify.context import NotifyContext
from services.notify.repository import NotifyRepository
from shared.cursor import decode_cursor, encode_cursor
from shared.web.auth import Principal, seller_filter

RETRYABLE = ("retrying", "dead", "disabled")


async def list_notifications(
    session: AsyncSession,
    principal: Principal,
    *,
    seller_id: str | None,
    status: str | None,
    event_type: str | None,
    channel_type: str | None,
    dispute_id: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Row[Any]], dict[uuid.UUID, list[Row[Any]]], str | None]:
    """Newest first; the sort key (created_at, id) is the cursor."""
    repo = NotifyRepository(session)
    rows = await repo.list_notifications(
        seller_id=seller_filter(principal, seller_id),
        status=status,
        event_type=event_type,
        channel_type=channel_type,
        dispute_id=dispute_id,
        after=decode_cursor(cursor, datetime, str),
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    attempts = await repo.attempts_of([r.id for r in rows])
    next_cursor = encode_cursor(rows[-1].created_at, str(rows[-1].id)) if more else None
    return rows, attempts, next_cursor


async def _visible(repo: NotifyRepository, principal: Principal, notification_id: uuid.UUID, *, lock: bool) -> Row[Any]:
    row = await repo.notification(notification_id, lock=lock)
    if row is None or not principal.can_see(row.seller_id):
        raise errors.NotificationNotFound("No such notification.")
    return row


async def get_notification(
    session: AsyncSession, principal: Principal, notification_id: uuid.UUID
) -> tuple[Row[Any], list[Row[Any]]]:
    repo = NotifyRepository(session)
    row = await _visible(repo, principal, notification_id, lock=False)
    return row, (await repo.attempts_of([row.id]))[row.id]


async def retry(
    session: AsyncSession, ctx: NotifyContext, principal: Principal, notification_id: uuid.UUID
) -> tuple[Row[Any], list[Row[Any]]]:
    """Make a failed notification due now, its retry schedule starting again."""
    repo = NotifyRepository(session)
    row = await _visible(repo, principal, notification_id, lock=True)
    if row.status not in RETRYABLE or row.lease_id is not None:
        state = "in_flight" if row.lease_id is not None else row.status
        raise errors.NotRetryable(f"Only a failed notification can be retried; this one is {state}.", status=state)
    now = ctx.clock.now()
    await repo.make_due(row.id, now)
    ctx.wakeup.after_commit(session, at=now)
    return await get_notification(session, principal, notification_id)
