"""The calendar the clock counts on: KR public holidays plus the operators' overrides.

Overrides live in the database; each process keeps them as a `BusinessCalendar` with the
generation it was built from, and checks the generation once per transaction (one cheap
query per consumed batch), so a PUT in any replica reaches every replica's next computation.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.deadline.context import DeadlineContext
from services.deadline.domain import BusinessCalendar, Closure, Override
from services.deadline.repository import DeadlineRepository

Names = dict[date, tuple[str, str]]  # an override's own (Korean, Chinese) name, by date


async def current_calendar(session: AsyncSession, ctx: DeadlineContext) -> tuple[BusinessCalendar, Names]:
    held = ctx.checked_calendar(session)
    if held is not None:
        return held, ctx.override_names
    repo = DeadlineRepository(session)
    generation = await repo.generation()
    if generation != ctx.generation:
        rows = await repo.overrides()
        ctx.use_overrides(
            generation,
            [Override(r.day, r.state, r.note) for r in rows],
            {r.day: (r.name_ko, r.name_zh) for r in rows if r.name_ko or r.name_zh},
        )
    ctx.mark_checked(session, ctx.calendar)
    return ctx.calendar, ctx.override_names


def skipped_json(closures: tuple[Closure, ...], names: Names) -> list[dict[str, Any]]:
    """Closures as stored and shown; an override's own name is given when the KR calendar has none.

    Remembered per `names` (one dict per override generation): notices of one day share their closures.
    """
    cache = _SKIPPED.get(id(names))
    if cache is None or cache[0] is not names:
        cache = (names, {})
        _SKIPPED.clear()
        _SKIPPED[id(names)] = cache
    found = cache[1].get(closures)
    if found is None:
        found = cache[1][closures] = _skipped_json(closures, names)
    return found


_SKIPPED: dict[int, tuple[Names, dict[tuple[Closure, ...], list[dict[str, Any]]]]] = {}


def _skipped_json(closures: Iterable[Closure], names: Names) -> list[dict[str, Any]]:
    out = []
    for c in closures:
        ko, zh = list(c.names_ko), list(c.names_zh)
        if not ko and c.day in names:
            own_ko, own_zh = names[c.day]
            ko, zh = [own_ko] if own_ko else [], [own_zh] if own_zh else []
        out.append(
            {"date": c.day.isoformat(), "reason": c.reason.value, "names_ko": ko, "names_zh": zh, "note": c.note}
        )
    return out
