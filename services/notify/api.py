"""HTTP API of the notify service: routes only (request in, one use-case call, response out)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from services.notify import deliveries, seller_prefs
from services.notify.context import Ctx
from services.notify.schemas import ChannelType, EventType, NotificationList, NotificationOut, NotificationStatus
from shared.web.auth import PrincipalDep
from shared.web.db import DbSession

router = APIRouter(prefix="/v1", tags=["notify"])

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
SellerId = Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)]


@router.get("/preferences")
async def get_preferences(ctx: Ctx, session: DbSession, principal: PrincipalDep, seller_id: SellerId = None) -> Any:
    """The seller's preferences, every secret masked (`whsec_********`, `secret_set`)."""
    return await seller_prefs.get_preferences(session, ctx, principal, seller_id)


@router.put("/preferences")
async def put_preferences(
    ctx: Ctx,
    session: DbSession,
    principal: PrincipalDep,
    body: Annotated[dict[str, Any], Body()],
    seller_id: SellerId = None,
) -> Any:
    """Replaces the seller's preferences; every channel URL is checked (no SSRF target) before saving."""
    return await seller_prefs.put_preferences(session, ctx, principal, seller_id, body)


@router.get("/notifications")
async def list_notifications(
    session: DbSession,
    principal: PrincipalDep,
    status: NotificationStatus | None = None,
    event: EventType | None = None,
    channel: ChannelType | None = None,
    dispute_id: Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)] = None,
    seller_id: SellerId = None,
    cursor: Annotated[str | None, Query(max_length=512, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NotificationList:
    """Newest first; a seller sees only its own."""
    rows, attempts, next_cursor = await deliveries.list_notifications(
        session,
        principal,
        seller_id=seller_id,
        status=status,
        event_type=event,
        channel_type=channel,
        dispute_id=dispute_id,
        cursor=cursor,
        limit=limit,
    )
    return NotificationList(items=[NotificationOut.of(r, attempts[r.id]) for r in rows], next_cursor=next_cursor)


@router.get("/notifications/{notification_id}")
async def get_notification(notification_id: uuid.UUID, session: DbSession, principal: PrincipalDep) -> NotificationOut:
    row, attempts = await deliveries.get_notification(session, principal, notification_id)
    return NotificationOut.of(row, attempts)


@router.post("/notifications/{notification_id}/retry")
async def retry_notification(
    notification_id: uuid.UUID, ctx: Ctx, session: DbSession, principal: PrincipalDep
) -> NotificationOut:
    """Makes a failed (retrying, dead or disabled) notification due now, its schedule starting again."""
    row, attempts = await deliveries.retry(session, ctx, principal, notification_id)
    return NotificationOut.of(row, attempts)
