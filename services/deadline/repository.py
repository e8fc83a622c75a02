"""Every query of the deadline service, on the caller's session (which it never commits)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Row, String, Text, and_, bindparam, func, insert, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from services.deadline import models
from shared.contracts import Envelope
from shared.db.backbone import qualified_name
from shared.db.outbox import Outbox

_outbox = Outbox(models.outbox_table)
_deadlines, _reminders, _overrides, _generation = (
    models.deadlines,
    models.reminders,
    models.calendar_overrides,
    models.calendar_generation,
)

# Many rows in one statement through unnest: a fixed number of array parameters whatever the batch
# size, compiled once (a multi-row VALUES would compile and bind per row).
_INSERT_DEADLINES = text(
    f"""
    INSERT INTO {qualified_name(_deadlines)}
        (dispute_id, seller_id, kind, notified_at, respond_by, due_at, rule, business_days, skipped, state, version)
    SELECT d, s, k, n, r, due, rule, days, CAST(skipped AS jsonb), 'open', 1
    FROM unnest(CAST(:d AS text[]), CAST(:s AS text[]), CAST(:k AS text[]), CAST(:n AS timestamptz[]),
                CAST(:r AS text[]), CAST(:due AS timestamptz[]), CAST(:rule AS text[]), CAST(:days AS int[]),
                CAST(:skipped AS text[])) AS t(d, s, k, n, r, due, rule, days, skipped)
    ON CONFLICT (dispute_id) DO NOTHING
    RETURNING dispute_id
    """
)
# Each deadline's reminders expanded in SQL (deadlines x offsets): arrays per deadline, not per reminder.
_INSERT_REMINDERS = text(
    f"""
    INSERT INTO {qualified_name(_reminders)} (dispute_id, version, offset_minutes, fire_at, state)
    SELECT t.d, t.v, o.m, t.due - make_interval(mins => o.m),
           CASE WHEN t.due - make_interval(mins => o.m) >= CAST(:now AS timestamptz) THEN 'pending' ELSE 'skipped' END
    FROM unnest(CAST(:d AS text[]), CAST(:v AS int[]), CAST(:due AS timestamptz[])) AS t(d, v, due)
    CROSS JOIN unnest(CAST(:m AS int[])) AS o(m)
    """
)

ReminderKey = tuple[str, int, int]  # (dispute_id, version, offset_minutes)


def _json_texts(values: list[Any]) -> list[str]:
    """JSON of each value, each distinct object encoded once (deadlines of one day share their closures)."""
    done: dict[int, str] = {}
    out = []
    for value in values:
        text_ = done.get(id(value))
        if text_ is None:
            text_ = done[id(value)] = json.dumps(value, ensure_ascii=False)
        out.append(text_)
    return out


class DeadlineRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ------------------------------------------------------------------ deadlines

    async def insert_deadlines(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """New open deadlines (version 1), one statement; returns the disputes inserted (not those that had one).

        Each new row stays locked until commit.
        """
        if not rows:
            return set()
        params = {
            "d": [r["dispute_id"] for r in rows],
            "s": [r["seller_id"] for r in rows],
            "k": [r["kind"] for r in rows],
            "n": [r["notified_at"] for r in rows],
            "r": [r["respond_by"] for r in rows],
            "due": [r["due_at"] for r in rows],
            "rule": [r["rule"] for r in rows],
            "days": [r["business_days"] for r in rows],
            "skipped": _json_texts([r["skipped"] for r in rows]),
        }
        return set((await self.session.execute(_INSERT_DEADLINES, params)).scalars())

    async def deadline(self, dispute_id: str, *, lock: bool = False) -> Row[Any] | None:
        query = select(_deadlines).where(_deadlines.c.dispute_id == dispute_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).first()

    async def update_deadline(self, dispute_id: str, values: dict[str, Any]) -> None:
        await self.session.execute(
            update(_deadlines).where(_deadlines.c.dispute_id == dispute_id).values(**values, updated_at=func.now())
        )

    async def at_risk(
        self, *, seller_id: str | None, due_before: datetime | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[Row[Any]]:
        """Open deadlines, nearest first (due_at, dispute_id), optionally due before a moment."""
        query = (
            select(_deadlines)
            .where(_deadlines.c.state == "open")
            .order_by(_deadlines.c.due_at, _deadlines.c.dispute_id)
            .limit(limit)
        )
        if seller_id is not None:
            query = query.where(_deadlines.c.seller_id == seller_id)
        if due_before is not None:
            query = query.where(_deadlines.c.due_at <= due_before)
        if after is not None:
            query = query.where(tuple_(_deadlines.c.due_at, _deadlines.c.dispute_id) > tuple_(*after))
        return list(await self.session.execute(query))

    async def open_computed_between(self, first_day: datetime, last_day: datetime) -> list[Row[Any]]:
        """Open, computed deadlines whose window (notice, due] may include a day in [first_day, last_day], locked."""
        query = (
            select(_deadlines)
            .where(
                _deadlines.c.state == "open",
                _deadlines.c.rule == "computed",
                _deadlines.c.notified_at < last_day,
                _deadlines.c.due_at >= first_day,
            )
            .order_by(_deadlines.c.dispute_id)
            .with_for_update()
        )
        return list(await self.session.execute(query))

    # ------------------------------------------------------------------ reminders

    async def insert_reminders(
        self, deadlines: Sequence[tuple[str, int, datetime]], offsets_minutes: Sequence[int], now: datetime
    ) -> None:
        """One reminder per (dispute, version, due_at) and offset, in one statement: `pending` when its
        fire time (due_at - offset) is at or after `now`, else `skipped` (never fired late)."""
        if deadlines and offsets_minutes:
            params = {
                "d": [d for d, _, _ in deadlines],
                "v": [v for _, v, _ in deadlines],
                "due": [due for _, _, due in deadlines],
                "m": list(offsets_minutes),
                "now": now,
            }
            await self.session.execute(_INSERT_REMINDERS, params)

    async def cancel_pending(self, dispute_id: str) -> int:
        stmt = (
            update(_reminders)
            .where(_reminders.c.dispute_id == dispute_id, _reminders.c.state == "pending")
            .values(state="cancelled")
            .returning(_reminders.c.offset_minutes)
        )
        return len((await self.session.execute(stmt)).all())

    async def reminders_of(self, dispute_id: str) -> list[Row[Any]]:
        query = (
            select(_reminders)
            .where(_reminders.c.dispute_id == dispute_id)
            .order_by(_reminders.c.version, _reminders.c.fire_at)
        )
        return list(await self.session.execute(query))

    async def claim_due_reminders(self, now: datetime, limit: int) -> list[Row[Any]]:
        """Due pending reminders of up to `limit` open deadlines, whose rows this transaction now holds.

        The deadline row is the dispute's one lock (handlers take it too), so a dispute's due
        reminders are claimed together, by one replica: rows another transaction holds are
        skipped (SKIP LOCKED) and left to it. The candidates come from the partial index on
        pending fire_at; a window wider than `limit` lets a second replica take the next ones.
        """
        candidates = (
            select(_reminders.c.dispute_id)
            .where(_reminders.c.state == "pending", _reminders.c.fire_at <= now)
            .order_by(_reminders.c.fire_at)
            .limit(limit * 4)
        )
        locked = (
            select(_deadlines.c.dispute_id)
            .where(_deadlines.c.state == "open", _deadlines.c.dispute_id.in_(candidates))
            .order_by(_deadlines.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list((await self.session.execute(locked)).scalars())
        if not ids:
            return []
        # A new statement, a new snapshot: what another replica fired meanwhile is no longer pending.
        query = (
            select(
                _reminders.c.dispute_id,
                _reminders.c.version,
                _reminders.c.offset_minutes,
                _reminders.c.fire_at,
                _deadlines.c.due_at,
                _deadlines.c.seller_id,
            )
            .join(
                _deadlines,
                and_(_deadlines.c.dispute_id == _reminders.c.dispute_id, _deadlines.c.version == _reminders.c.version),
            )
            .where(
                _reminders.c.dispute_id.in_(ids),
                _reminders.c.state == "pending",
                _reminders.c.fire_at <= now,
                _deadlines.c.state == "open",
            )
            .order_by(_reminders.c.fire_at)
        )
        return list(await self.session.execute(query))

    async def set_reminder_states(self, keys: Iterable[ReminderKey], state: str, at: datetime | None) -> None:
        keys = list(keys)
        if not keys:
            return
        ids, versions, offsets = (list(column) for column in zip(*keys, strict=True))
        target = select(
            func.unnest(bindparam("ids", ids, ARRAY(String))).label("d"),
            func.unnest(bindparam("versions", versions, ARRAY(Integer))).label("v"),
            func.unnest(bindparam("offsets", offsets, ARRAY(Integer))).label("o"),
        ).subquery()
        stmt = (
            update(_reminders)
            .where(
                _reminders.c.dispute_id == target.c.d,
                _reminders.c.version == target.c.v,
                _reminders.c.offset_minutes == target.c.o,
            )
            .values(state=state, fired_at=at)
        )
        await self.session.execute(stmt)

    async def claim_missed(self, now: datetime, limit: int) -> list[Row[Any]]:
        """Open deadlines whose due_at has passed, locked (SKIP LOCKED)."""
        query = (
            select(_deadlines.c.dispute_id, _deadlines.c.seller_id, _deadlines.c.due_at, _deadlines.c.version)
            .where(_deadlines.c.state == "open", _deadlines.c.due_at <= now)
            .order_by(_deadlines.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(await self.session.execute(query))

    async def mark_missed(self, dispute_ids: Sequence[str], now: datetime) -> None:
        if not dispute_ids:
            return
        ids = bindparam("ids", list(dispute_ids), ARRAY(Text))
        await self.session.execute(
            update(_deadlines)
            .where(_deadlines.c.dispute_id == func.any(ids))
            .values(state="missed", missed_at=now, updated_at=now)
        )
        await self.session.execute(
            update(_reminders)
            .where(_reminders.c.dispute_id == func.any(ids), _reminders.c.state == "pending")
            .values(state="cancelled")
        )

    async def due_reminders(self, now: datetime) -> tuple[int, datetime | None]:
        """Pending reminders whose time has come (the scheduler's backlog), and the earliest fire_at of them.

        On the partial index of pending fire_at, over the due rows alone: cheap enough for every scrape."""
        query = select(func.count(), func.min(_reminders.c.fire_at)).where(
            _reminders.c.state == "pending", _reminders.c.fire_at <= now
        )
        count, earliest = (await self.session.execute(query)).one()
        return int(count), earliest

    async def next_due(self) -> datetime | None:
        """The earliest pending fire_at or open due_at: when the scheduler has something to do."""
        fire = select(func.min(_reminders.c.fire_at)).where(_reminders.c.state == "pending").scalar_subquery()
        due = select(func.min(_deadlines.c.due_at)).where(_deadlines.c.state == "open").scalar_subquery()
        return (await self.session.execute(select(func.least(fire, due)))).scalar()

    # ------------------------------------------------------------------ calendar overrides

    async def generation(self) -> int:
        query = select(_generation.c.generation).where(_generation.c.id == 1)
        generation: int = (await self.session.execute(query)).scalar_one()
        return generation

    async def overrides(self) -> list[Row[Any]]:
        return list(await self.session.execute(select(_overrides).order_by(_overrides.c.day)))

    async def replace_overrides(self, rows: Sequence[dict[str, Any]]) -> int:
        """The whole set replaced; the generation bumped (and the table locked meanwhile). Returns it."""
        bumped = (
            update(_generation)
            .where(_generation.c.id == 1)
            .values(generation=_generation.c.generation + 1)
            .returning(_generation.c.generation)
        )
        generation: int = (await self.session.execute(bumped)).scalar_one()  # serialises concurrent PUTs
        await self.session.execute(_overrides.delete())
        if rows:
            await self.session.execute(insert(_overrides).values(list(rows)))
        return generation

    # ------------------------------------------------------------------ outbox

    async def add_events(self, *events: Envelope[Any]) -> None:
        await _outbox.add(self.session, *events)
