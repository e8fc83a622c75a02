"""Every query of the ingest service, on the caller's session (which it never commits)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Result, Row, and_, bindparam, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.ingest import models
from shared.contracts import Envelope
from shared.db.outbox import Outbox

_outbox = Outbox(models.outbox_table)
_UUIDS = ARRAY(UUID(as_uuid=True))

# The webhook's statements, built once: building and keying a statement per request was a
# quarter of the ingest worker's CPU (bench/RESULTS.md).
_s, _w, _r, _c, _e = models.sellers, models.webhook_secrets, models.webhook_receipts, models.cases, models.case_events
_WEBHOOK_CONTEXT = (
    select(_w.c.secret_encrypted, _s.c.rules)
    .join(_s, _s.c.seller_id == _w.c.seller_id)
    .where(_w.c.seller_id == bindparam("seller_id"), or_(_w.c.expires_at.is_(None), _w.c.expires_at > bindparam("now")))
    .order_by(_w.c.id.desc())
)
_SET_RECEIPT_ANSWER = (
    update(_r)
    .where(_r.c.seller_id == bindparam("key_seller_id"), _r.c.webhook_id == bindparam("key_webhook_id"))
    .values(answer=bindparam("answer"))
)
_INSERT_CASE = pg_insert(_c).on_conflict_do_nothing(index_elements=["dispute_id"]).returning(_c.c.dispute_id)
_ADD_TIMELINE = pg_insert(_e).on_conflict_do_nothing(index_elements=["event_id"]).returning(_e.c.id)

# Round trips are most of a webhook's cost (bench/RESULTS.md), so two pairs of statements go as one:
# - the seller's secrets and rules, and the webhook-id's receipt claimed in the same statement
#   (a data-modifying CTE). The claim is made before the signature is checked, but a refused
#   notice rolls its transaction back, so nothing of it stays; a concurrent twin of the same
#   webhook-id still waits on the claim until the first one commits, as before.
_claim = (
    pg_insert(_r)
    .values(seller_id=bindparam("seller_id"), webhook_id=bindparam("webhook_id"))
    .on_conflict_do_nothing(index_elements=["seller_id", "webhook_id"])
    .returning(_r.c.webhook_id)
    .cte("claim")
)
_CONTEXT_AND_CLAIM = _WEBHOOK_CONTEXT.add_columns(
    select(func.count()).select_from(_claim).scalar_subquery().label("claimed")
)
# - a new case and its first timeline row: the row is written only if the case was (a CTE that
#   selects from the INSERT ... RETURNING of the case). Built per set of case columns, once.
_ENTRY_COLUMNS = ("event_id", "type", "occurred_at", "status_before", "status_after", "applied", "summary")
_case_with_entry: dict[tuple[str, ...], Any] = {}


def _insert_case_with_entry(columns: tuple[str, ...]) -> Any:
    stmt = _case_with_entry.get(columns)
    if stmt is None:
        new_case = (
            pg_insert(_c)
            .values({name: bindparam(name, type_=_c.c[name].type) for name in columns})
            .on_conflict_do_nothing(index_elements=["dispute_id"])
            .returning(_c.c.dispute_id)
            .cte("new_case")
        )
        entry = (
            insert(_e)
            .from_select(
                ["dispute_id", *_ENTRY_COLUMNS],
                select(
                    new_case.c.dispute_id,
                    *(bindparam(f"entry_{name}", type_=_e.c[name].type) for name in _ENTRY_COLUMNS),
                ),
            )
            .cte("new_entry")
        )
        stmt = _case_with_entry[columns] = select(new_case.c.dispute_id).add_cte(entry)
    return stmt


@dataclass(frozen=True)
class CaseFilter:
    seller_id: str | None = None  # None: every seller (operators)
    statuses: Sequence[str] = ()
    reason_codes: Sequence[str] = ()
    due_before: datetime | None = None
    q: str | None = None


@dataclass(frozen=True)
class CaseCursor:
    urgency: int
    due_key: datetime
    dispute_id: str


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class IngestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._connection: AsyncConnection | None = None

    async def _core(self, statement: Any, params: dict[str, Any]) -> Result[Any]:
        """Run a Core statement on the session's connection, in its transaction, without the ORM
        session's per-statement work (the webhook's statements touch no ORM object)."""
        if self._connection is None:
            self._connection = await self.session.connection()
        return await self._connection.execute(statement, params)

    # ------------------------------------------------------------------ sellers

    async def insert_seller(self, seller_id: str, name: str, contact: str) -> Row | None:
        """The new seller, or None when the id is taken."""
        t = models.sellers
        stmt = (
            pg_insert(t)
            .values(seller_id=seller_id, name=name, contact=contact)
            .on_conflict_do_nothing(index_elements=["seller_id"])
            .returning(*t.c)
        )
        return (await self.session.execute(stmt)).first()

    async def seller(self, seller_id: str) -> Row | None:
        t = models.sellers
        return (await self.session.execute(select(t).where(t.c.seller_id == seller_id))).first()

    async def sellers(self, *, after: str | None, limit: int) -> list[Row]:
        t = models.sellers
        query = select(t).order_by(t.c.seller_id).limit(limit)
        if after is not None:
            query = query.where(t.c.seller_id > after)
        return list(await self.session.execute(query))

    async def set_rules(self, seller_id: str, rules: dict[str, Any]) -> bool:
        t = models.sellers
        stmt = update(t).where(t.c.seller_id == seller_id).values(rules=rules).returning(t.c.seller_id)
        return (await self.session.execute(stmt)).first() is not None

    async def set_plan(self, seller_id: str, plan: dict[str, Any]) -> bool:
        t = models.sellers
        stmt = update(t).where(t.c.seller_id == seller_id).values(plan=plan).returning(t.c.seller_id)
        return (await self.session.execute(stmt)).first() is not None

    async def set_rates(self, month: str, plan_currency: str, rates: dict[str, Decimal]) -> None:
        """Replace the month's rates into `plan_currency`."""
        t = models.exchange_rates
        await self.session.execute(delete(t).where(t.c.month == month, t.c.plan_currency == plan_currency))
        rows = [{"month": month, "plan_currency": plan_currency, "currency": c, "rate": r} for c, r in rates.items()]
        await self.session.execute(insert(t), rows)

    async def rates(self, month: str, plan_currency: str) -> dict[str, Decimal]:
        t = models.exchange_rates
        query = select(t.c.currency, t.c.rate).where(t.c.month == month, t.c.plan_currency == plan_currency)
        return {currency: rate for currency, rate in await self.session.execute(query)}

    async def month_activity(self, seller_id: str, start: datetime, end: datetime) -> list[Row]:
        """Cases submitted in [start, end), or decided won/partial in it."""
        t = models.cases
        submitted = and_(t.c.submitted_at >= start, t.c.submitted_at < end)
        decided = and_(t.c.status.in_(["won", "partial"]), t.c.status_changed_at >= start, t.c.status_changed_at < end)
        query = (
            select(
                t.c.dispute_id,
                t.c.submitted_at,
                t.c.status,
                t.c.status_changed_at,
                t.c.verdict,
                t.c.amount_value,
                t.c.amount_currency,
            )
            .where(t.c.seller_id == seller_id, or_(submitted, decided))
            .order_by(t.c.dispute_id)
        )
        return list(await self.session.execute(query))

    async def lock_seller(self, seller_id: str) -> Row | None:
        t = models.sellers
        return (await self.session.execute(select(t).where(t.c.seller_id == seller_id).with_for_update())).first()

    async def add_secret(self, seller_id: str, sealed: bytes) -> None:
        await self.session.execute(insert(models.webhook_secrets).values(seller_id=seller_id, secret_encrypted=sealed))

    async def expire_current_secrets(self, seller_id: str, expires_at: datetime) -> None:
        t = models.webhook_secrets
        await self.session.execute(
            update(t).where(t.c.seller_id == seller_id, t.c.expires_at.is_(None)).values(expires_at=expires_at)
        )

    async def webhook_context_and_claim(
        self, seller_id: str, webhook_id: str, *, now: datetime
    ) -> tuple[list[bytes], dict[str, Any], bool]:
        """In one round trip: the seller's sealed secrets that still verify (newest first), its
        rules, and whether this claimed `webhook_id` first (meaningful only when the seller has
        secrets). A concurrent twin of the same webhook-id waits here until the first commits."""
        params = {"seller_id": seller_id, "webhook_id": webhook_id, "now": now}
        rows = list(await self._core(_CONTEXT_AND_CLAIM, params))
        if not rows:
            return [], {}, False
        return [row.secret_encrypted for row in rows], rows[0].rules, rows[0].claimed > 0

    # ------------------------------------------------------------------ webhook receipts

    async def receipt_answer(self, seller_id: str, webhook_id: str) -> dict[str, Any] | None:
        t = models.webhook_receipts
        query = select(t.c.answer).where(t.c.seller_id == seller_id, t.c.webhook_id == webhook_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def set_receipt_answer(self, seller_id: str, webhook_id: str, answer: dict[str, Any]) -> None:
        params = {"key_seller_id": seller_id, "key_webhook_id": webhook_id, "answer": answer}
        await self._core(_SET_RECEIPT_ANSWER, params)

    # ------------------------------------------------------------------ cases

    async def insert_case(self, values: dict[str, Any]) -> bool:
        """True if this created the case; its row then stays locked until commit (events stay in order)."""
        return (await self.session.execute(_INSERT_CASE, values)).first() is not None

    async def insert_case_with_entry(
        self, values: dict[str, Any], event: Envelope, *, status_after: str | None
    ) -> bool:
        """`insert_case` and, only if that created the case, `add_timeline` of `event` (applied,
        no status before), in one round trip. True if this created the case (its row then stays
        locked until commit)."""
        params = dict(values)
        params.update(
            entry_event_id=event.id,
            entry_type=event.type,
            entry_occurred_at=event.time,
            entry_status_before=None,
            entry_status_after=status_after,
            entry_applied=True,
            entry_summary=event.data.model_dump(mode="json", exclude_none=True, exclude={"dispute_id"}),
        )
        stmt = _insert_case_with_entry(tuple(values))
        return (await self._core(stmt, params)).first() is not None

    async def insert_cases(self, values: list[dict[str, Any]]) -> set[str]:
        """Insert many cases at once; the ids of those this created (the others existed)."""
        t = models.cases
        stmt = (
            pg_insert(t).values(values).on_conflict_do_nothing(index_elements=["dispute_id"]).returning(t.c.dispute_id)
        )
        return set((await self.session.execute(stmt)).scalars())

    async def case(self, dispute_id: str, *, lock: bool = False) -> Row | None:
        t = models.cases
        query = select(t).where(t.c.dispute_id == dispute_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).first()

    async def update_case(self, dispute_id: str, values: dict[str, Any]) -> None:
        t = models.cases
        await self.session.execute(
            update(t).where(t.c.dispute_id == dispute_id).values(**values, updated_at=func.now())
        )

    async def cases(self, where: CaseFilter, *, after: CaseCursor | None, limit: int) -> list[Row]:
        """Most urgent first: open cases by nearest deadline, then the rest; keyset-paginated."""
        t = models.cases
        conditions = []
        if where.seller_id is not None:
            conditions.append(t.c.seller_id == where.seller_id)
        if where.statuses:
            conditions.append(t.c.status.in_(list(where.statuses)))
        if where.reason_codes:
            conditions.append(t.c.reason_code.in_(list(where.reason_codes)))
        if where.due_before is not None:
            conditions.append(t.c.due_at < where.due_before)
        if where.q:
            pattern = _like(where.q)
            conditions.append(
                or_(
                    *(
                        column.ilike(pattern, escape="\\")
                        for column in (t.c.dispute_id, t.c.order_id, t.c.buyer_id, t.c.notice_id)
                    )
                )
            )
        if after is not None:
            conditions.append(
                tuple_(t.c.urgency, t.c.due_key, t.c.dispute_id)
                > tuple_(after.urgency, after.due_key, after.dispute_id)
            )
        query = select(t).where(and_(True, *conditions)).order_by(t.c.urgency, t.c.due_key, t.c.dispute_id).limit(limit)
        return list(await self.session.execute(query))

    async def buyer_cases(self, seller_id: str, buyer_id: str) -> list[Row]:
        t = models.cases
        query = (
            select(t.c.dispute_id, t.c.order_id, t.c.reason_code, t.c.notified_at, t.c.status)
            .where(t.c.seller_id == seller_id, t.c.buyer_id == buyer_id)
            .order_by(t.c.notified_at)
        )
        return list(await self.session.execute(query))

    async def stats_tallies(
        self, seller_id: str | None, *, since: datetime | None, until: datetime | None
    ) -> tuple[list[Row], int, int]:
        """Case counts by (reason, KST month, carrier, status), and how many were submitted on time / late."""
        t = models.cases
        conditions = []
        if seller_id is not None:
            conditions.append(t.c.seller_id == seller_id)
        if since is not None:
            conditions.append(t.c.notified_at >= since)
        if until is not None:
            conditions.append(t.c.notified_at < until)
        month = func.to_char(func.timezone("Asia/Seoul", t.c.notified_at), "YYYY-MM").label("month")
        carrier = func.coalesce(t.c.carrier, "unknown").label("carrier")
        tallies = select(t.c.reason_code, month, carrier, t.c.status, func.count().label("count"))
        tallies = tallies.where(and_(True, *conditions)).group_by(t.c.reason_code, month, carrier, t.c.status)
        rows = list(await self.session.execute(tallies))
        known = and_(True, *conditions, t.c.submitted_at.is_not(None), t.c.due_at.is_not(None))
        timing = select(
            func.count().filter(t.c.submitted_at <= t.c.due_at), func.count().filter(t.c.submitted_at > t.c.due_at)
        ).where(known)
        on_time, late = (await self.session.execute(timing)).one()
        return rows, on_time, late

    # ------------------------------------------------------------------ timeline and events

    async def add_timeline(
        self,
        dispute_id: str,
        event: Envelope,
        *,
        status_before: str | None,
        status_after: str | None,
        applied: bool,
    ) -> bool:
        """Record `event` in the case's timeline; False if it was recorded before."""
        params = {
            "dispute_id": dispute_id,
            "event_id": event.id,
            "type": event.type,
            "occurred_at": event.time,
            "status_before": status_before,
            "status_after": status_after,
            "applied": applied,
            "summary": event.data.model_dump(mode="json", exclude_none=True, exclude={"dispute_id"}),
        }
        return (await self.session.execute(_ADD_TIMELINE, params)).first() is not None

    async def add_import_timeline(self, entries: list[tuple[str, Envelope | None, str]], *, now: datetime) -> None:
        """Timeline rows of imported cases: their `dispute.received`, or an `import` entry for history."""
        if not entries:
            return
        rows = [
            {
                "dispute_id": dispute_id,
                "event_id": event.id if event is not None else uuid.uuid4(),
                "type": event.type if event is not None else "dispute.imported",
                "occurred_at": event.time if event is not None else now,
                "status_before": None,
                "status_after": status,
                "applied": True,
                "summary": event.data.model_dump(mode="json", exclude_none=True, exclude={"dispute_id"})
                if event is not None
                else {"status": status},
            }
            for dispute_id, event, status in entries
        ]
        await self.session.execute(insert(models.case_events), rows)

    async def knows_event(self, event_id: uuid.UUID) -> bool:
        t = models.case_events
        return (await self.session.execute(select(t.c.id).where(t.c.event_id == event_id))).first() is not None

    async def known_events(self, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `event_ids` are in some case's timeline already (one round trip for a batch)."""
        t = models.case_events
        query = select(t.c.event_id).where(t.c.event_id == func.any(bindparam("ids", list(event_ids), _UUIDS)))
        return set((await self.session.execute(query)).scalars())

    async def timeline(self, dispute_id: str) -> list[Row]:
        t = models.case_events
        return list(await self.session.execute(select(t).where(t.c.dispute_id == dispute_id).order_by(t.c.id)))

    async def add_events(self, *events: Envelope) -> None:
        await _outbox.add(self.session, *events)
