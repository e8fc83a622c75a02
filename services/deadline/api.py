"""HTTP API of the deadline service: routes only (request schema in, one use-case call, response schema out)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from services.deadline import overrides, queries
from services.deadline.context import Ctx
from services.deadline.schemas import (
    ID_PATTERN,
    DeadlineList,
    DeadlineOut,
    OverrideOut,
    OverridesIn,
    OverridesOut,
)
from shared.web.auth import OperatorDep, PrincipalDep, seller_filter
from shared.web.db import DbSession

router = APIRouter(prefix="/v1", tags=["deadline"])

PathId = Annotated[str, Path(max_length=64, pattern=ID_PATTERN)]
SellerId = Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN)]


@router.get("/deadlines/{dispute_id}")
async def get_deadline(dispute_id: PathId, ctx: Ctx, session: DbSession, principal: PrincipalDep) -> DeadlineOut:
    row, reminders = await queries.get_deadline(session, principal, dispute_id)
    return DeadlineOut.of(row, ctx.clock.now(), reminders)


@router.get("/deadlines")
async def list_deadlines(
    ctx: Ctx,
    session: DbSession,
    principal: PrincipalDep,
    due_within: Annotated[str | None, Query(max_length=32)] = None,
    seller_id: SellerId = None,
    cursor: Annotated[str | None, Query(max_length=512, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeadlineList:
    """Open deadlines, most urgent first; with `due_within` (24h, 90m, 2d) only those due that soon."""
    now = ctx.clock.now()
    rows, next_cursor = await queries.at_risk(
        session,
        seller_id=seller_filter(principal, seller_id),
        due_within=due_within,
        now=now,
        cursor=cursor,
        limit=limit,
    )
    return DeadlineList(items=[DeadlineOut.of(row, now) for row in rows], next_cursor=next_cursor)


@router.get("/calendar/overrides")
async def get_overrides(session: DbSession, _: OperatorDep) -> OverridesOut:
    rows = await overrides.list_overrides(session)
    return OverridesOut(overrides=[_override(r) for r in rows])


@router.put("/calendar/overrides")
async def put_overrides(body: OverridesIn, ctx: Ctx, session: DbSession, principal: OperatorDep) -> OverridesOut:
    """Replaces the whole set; open deadlines whose window holds a changed date are recomputed."""
    items = [item.model_dump() for item in body.overrides]
    rows, moved = await overrides.replace_overrides(session, ctx, items, by=principal.seller_id or "operator")
    return OverridesOut(overrides=[_override(r) for r in rows], rescheduled=moved)


def _override(r: Any) -> OverrideOut:
    return OverrideOut(
        date=r.day,
        state=r.state,
        name_ko=r.name_ko,
        name_zh=r.name_zh,
        note=r.note,
        updated_by=r.updated_by,
        updated_at=r.updated_at,
    )
