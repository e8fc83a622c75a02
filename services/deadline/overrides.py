"""Operators' calendar overrides: read, and replaced as a whole set (PUT), with the open deadlines they move."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.deadline.context import DeadlineContext
from services.deadline.domain import (
    KST,
    BusinessCalendar,
    CalendarExhausted,
    DeadlineError,
    compute_deadline,
    parse_override,
)
from services.deadline.errors import DuplicateOverrideDate
from services.deadline.repository import DeadlineRepository
from services.deadline.scheduling import reschedule

log = structlog.get_logger(__name__)


async def list_overrides(session: AsyncSession) -> list[Any]:
    return await DeadlineRepository(session).overrides()


async def replace_overrides(
    session: AsyncSession, ctx: DeadlineContext, items: Sequence[dict[str, Any]], *, by: str
) -> tuple[list[Any], list[str]]:
    """Replace the whole override set; open computed deadlines whose window holds a changed date are
    recomputed, and those whose due time moved are rescheduled and announced again.

    Returns the new set and the disputes rescheduled.
    """
    new = [parse_override(item["date"], item["state"], item.get("note", "")) for item in items]  # InvalidOverride*
    days = [o.day for o in new]
    if len(set(days)) != len(days):
        raise DuplicateOverrideDate("Each date may have one override only.")
    now = ctx.clock.now()
    repo = DeadlineRepository(session)
    before = {(r.day, r.state) for r in await repo.overrides()}
    rows = [
        {
            "day": o.day,
            "state": o.state.value,
            "note": o.note,
            "name_ko": item.get("name_ko", ""),
            "name_zh": item.get("name_zh", ""),
            "updated_by": by,
            "updated_at": now,
        }
        for o, item in zip(new, items, strict=True)
    ]
    await repo.replace_overrides(rows)
    changed = sorted({day for day, _ in before ^ {(o.day, o.state.value) for o in new}})
    moved: list[str] = []
    if changed:
        calendar = BusinessCalendar(new)
        names = {r["day"]: (r["name_ko"], r["name_zh"]) for r in rows if r["name_ko"] or r["name_zh"]}
        first = datetime.combine(changed[0], time(0), tzinfo=KST)
        last = datetime.combine(changed[-1] + timedelta(days=1), time(0), tzinfo=KST)
        for row in await repo.open_computed_between(first, last):
            if row.kind not in ctx.settings.business_days:
                continue
            try:
                deadline = compute_deadline(
                    row.notified_at, row.kind, calendar=calendar, business_days=ctx.settings.business_days
                )
            except DeadlineError as exc:  # an override set that leaves this deadline no business day to count
                raise CalendarExhausted(f"{row.dispute_id}: {exc.detail}", dispute_id=row.dispute_id) from exc
            if await reschedule(repo, ctx, row, deadline, names):
                moved.append(row.dispute_id)
    log.info("calendar_overrides_replaced", overrides=len(items), changed=len(changed), rescheduled=len(moved))
    return await repo.overrides(), moved
