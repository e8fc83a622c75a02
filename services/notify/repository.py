"""Every query of the notify service, on the caller's session (which it never commits)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, and_, case, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import models
from shared.db.backbone import qualified_name

_preferences, _cases, _notifications, _attempts, _digest_items = (
    models.preferences,
    models.cases,
    models.notifications,
    models.attempts,
    models.digest_items,
)
_DUE = _notifications.c.status.in_(models.DUE_STATUSES)

# What recording an attempt writes (`record_many`), with its SQL array type.
_RECORDED_TYPES = {
    "status": "text",
    "due_at": "timestamptz",
    "attempts": "int",
    "round_attempts": "int",
    "first_attempt_at": "timestamptz",
    "last_attempt_at": "timestamptz",
    "last_status_code": "int",
    "last_error": "text",
    "delivered_at": "timestamptz",
}
RECORDED = tuple(_RECORDED_TYPES)
_RECORD_MANY = text(
    f"""
    UPDATE {qualified_name(_notifications)} AS notifications
    SET lease_id = NULL, {", ".join(f"{name} = t.{name}" for name in RECORDED)}
    FROM unnest(CAST(:id AS uuid[]), {", ".join(f"CAST(:{n} AS {t}[])" for n, t in _RECORDED_TYPES.items())})
        AS t(id, {", ".join(RECORDED)})
    WHERE notifications.id = t.id AND notifications.lease_id = CAST(:lease AS uuid)
    RETURNING notifications.id
    """
)

# What a case row may learn from an event; a None leaves what is known.
CASE_FACTS = ("order_id", "amount_value", "amount_currency", "reason_code", "reason_text", "due_at")


class NotifyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ------------------------------------------------------------------ preferences

    async def preferences(self, seller_id: str, *, lock: bool = False) -> dict[str, Any] | None:
        query = select(_preferences.c.document).where(_preferences.c.seller_id == seller_id)
        if lock:
            query = query.with_for_update()
        document = (await self.session.execute(query)).scalar_one_or_none()
        return None if document is None else dict(document)

    async def preferences_of(self, seller_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not seller_ids:
            return {}
        query = select(_preferences.c.seller_id, _preferences.c.document).where(
            _preferences.c.seller_id.in_(sorted(set(seller_ids)))
        )
        return {row.seller_id: dict(row.document) for row in await self.session.execute(query)}

    async def put_preferences(self, seller_id: str, document: Mapping[str, Any], now: datetime) -> None:
        statement = insert(_preferences).values(seller_id=seller_id, document=dict(document), updated_at=now)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[_preferences.c.seller_id],
                set_={"document": statement.excluded.document, "updated_at": now},
            )
        )

    # ------------------------------------------------------------------ case facts

    async def merge_cases(self, cases: Sequence[tuple[str, str, Mapping[str, Any], bool]], now: datetime) -> None:
        """Insert each (dispute_id, seller_id, facts, received) case or fill in what its facts know
        (a None leaves the known fact), in one statement; each dispute at most once."""
        if not cases:
            return
        values = [
            {
                "dispute_id": dispute_id,
                "seller_id": seller_id,
                "received": received,
                "updated_at": now,
                **{k: facts.get(k) for k in CASE_FACTS},
            }
            for dispute_id, seller_id, facts, received in cases
        ]
        statement = insert(_cases).values(values)
        excluded = statement.excluded
        set_: dict[str, Any] = {k: func.coalesce(excluded[k], _cases.c[k]) for k in CASE_FACTS}
        set_["updated_at"] = now
        set_["received"] = _cases.c.received | excluded.received
        await self.session.execute(statement.on_conflict_do_update(index_elements=[_cases.c.dispute_id], set_=set_))

    async def case(self, dispute_id: str) -> Row[Any] | None:
        return (await self.session.execute(select(_cases).where(_cases.c.dispute_id == dispute_id))).first()

    async def cases(self, dispute_ids: Sequence[str]) -> dict[str, Row[Any]]:
        if not dispute_ids:
            return {}
        query = select(_cases).where(_cases.c.dispute_id.in_(sorted(set(dispute_ids))))
        return {row.dispute_id: row for row in await self.session.execute(query)}

    # ------------------------------------------------------------------ notifications

    async def add_notifications(self, rows: Sequence[Mapping[str, Any]]) -> list[Row[Any]]:
        """Insert each (event, channel) once; returns (id, due_at) of the rows that are new."""
        if not rows:
            return []
        statement = (
            insert(_notifications)
            .values([dict(r) for r in rows])
            .on_conflict_do_nothing(constraint="uq_notifications_event_channel")
            .returning(_notifications.c.id, _notifications.c.due_at)
        )
        return list(await self.session.execute(statement))

    async def release_awaiting(self, dispute_id: str, due_at: datetime) -> list[datetime]:
        """The dispute's rows waiting for its deadline: due at `due_at` (or sooner); returns their due times."""
        statement = (
            update(_notifications)
            .where(
                _notifications.c.dispute_id == dispute_id,
                _notifications.c.awaiting_deadline,
                _notifications.c.status == "pending",
                _notifications.c.lease_id.is_(None),
            )
            .values(awaiting_deadline=False, due_at=func.least(_notifications.c.due_at, due_at))
            .returning(_notifications.c.due_at)
        )
        return list((await self.session.execute(statement)).scalars())

    async def add_digest_item(self, seller_id: str, day: date, dispute_id: str, now: datetime) -> None:
        await self.session.execute(
            insert(_digest_items)
            .values(seller_id=seller_id, day=day, dispute_id=dispute_id, added_at=now)
            .on_conflict_do_nothing()
        )

    async def digest_disputes(self, seller_id: str, day: date) -> list[str]:
        query = (
            select(_digest_items.c.dispute_id)
            .where(_digest_items.c.seller_id == seller_id, _digest_items.c.day == day)
            .order_by(_digest_items.c.added_at, _digest_items.c.dispute_id)
        )
        return list((await self.session.execute(query)).scalars())

    async def claim_due(self, now: datetime, lease_until: datetime, lease_id: uuid.UUID, limit: int) -> list[Row[Any]]:
        """Take up to `limit` due rows for one dispatcher pass: `FOR UPDATE SKIP LOCKED` (replicas share
        the rows), then under a lease (`due_at` = its end, so a dispatcher that dies leaves them due again)."""
        due = (
            select(_notifications.c.id)
            .where(_DUE, _notifications.c.due_at <= now)
            .order_by(_notifications.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
        )
        statement = (
            update(_notifications)
            .where(_notifications.c.id == due.c.id)
            .values(lease_id=lease_id, due_at=lease_until)
            .returning(*_notifications.c)
        )
        return list(await self.session.execute(statement))

    async def record_many(self, lease_id: uuid.UUID, outcomes: Sequence[Mapping[str, Any]]) -> set[uuid.UUID]:
        """The outcome of each attempt (`RECORDED` keys, plus `id`), in one statement, for the rows still
        under this lease; returns the ids recorded (a missing one lost its lease to another claim)."""
        if not outcomes:
            return set()
        params: dict[str, Any] = {"lease": lease_id}
        for name in ("id", *RECORDED):
            params[name] = [o.get(name) for o in outcomes]
        result = await self.session.execute(_RECORD_MANY, params)
        return set(result.scalars())

    async def add_attempts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(_attempts), [dict(r) for r in rows])

    async def disable_channel_rows(self, seller_id: str, channel_key: str, error: str) -> int:
        """The channel's other waiting rows (not in flight) are disabled with it."""
        statement = update(_notifications).where(
            _notifications.c.seller_id == seller_id,
            _notifications.c.channel_key == channel_key,
            _DUE,
            _notifications.c.lease_id.is_(None),
        )
        result = await self.session.execute(statement.values(status="disabled", last_error=error))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def next_due(self) -> datetime | None:
        query = select(func.min(_notifications.c.due_at)).where(_DUE)
        due: datetime | None = (await self.session.execute(query)).scalar_one_or_none()
        return due

    async def counts(self, now: datetime) -> tuple[int, int]:
        """(due now, dead)."""
        query = select(
            func.count().filter(and_(_DUE, _notifications.c.due_at <= now)),
            func.count().filter(_notifications.c.status == "dead"),
        )
        due, dead = (await self.session.execute(query)).one()
        return int(due), int(dead)

    async def notification(self, notification_id: uuid.UUID, *, lock: bool = False) -> Row[Any] | None:
        query = select(_notifications).where(_notifications.c.id == notification_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).first()

    async def attempts_of(self, notification_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Row[Any]]]:
        out: dict[uuid.UUID, list[Row[Any]]] = {i: [] for i in notification_ids}
        if not notification_ids:
            return out
        query = (
            select(_attempts)
            .where(_attempts.c.notification_id.in_(list(notification_ids)))
            .order_by(_attempts.c.notification_id, _attempts.c.attempt)
        )
        for row in await self.session.execute(query):
            out[row.notification_id].append(row)
        return out

    async def list_notifications(
        self,
        *,
        seller_id: str | None,
        status: str | None,
        event_type: str | None,
        channel_type: str | None,
        dispute_id: str | None,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Row[Any]]:
        """Newest first (created_at, id descending)."""
        n = _notifications.c
        query = select(_notifications).order_by(n.created_at.desc(), n.id.desc()).limit(limit)
        for column, value in (
            (n.seller_id, seller_id),
            (n.status, status),
            (n.event_type, event_type),
            (n.channel_type, channel_type),
            (n.dispute_id, dispute_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if after is not None:
            created_at, last_id = after
            query = query.where(tuple_(n.created_at, n.id) < tuple_(created_at, uuid.UUID(last_id)))
        return list(await self.session.execute(query))

    async def make_due(self, notification_id: uuid.UUID, now: datetime) -> None:
        """A manual retry: due now, the retry schedule starting again."""
        await self.session.execute(
            update(_notifications)
            .where(_notifications.c.id == notification_id)
            .values(
                status=case((_notifications.c.status == "pending", "pending"), else_="retrying"),
                due_at=now,
                round_attempts=0,
                first_attempt_at=None,
                awaiting_deadline=False,
            )
        )
