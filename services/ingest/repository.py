"""Every query of the ingest service, on the caller's session (which it never commits)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
from sqlalchemy import Row, and_, bindparam, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import models
from shared.contracts import Envelope
from shared.db.backbone import parked_of_function, qualified_name
from shared.db.outbox import Outbox
from shared.db.session import driver_connection

_outbox = Outbox(models.outbox_table)
_UUIDS = ARRAY(UUID(as_uuid=True))

# The webhook's statements: SQL run on the session's asyncpg connection (shared.db.session.
# driver_connection), in the session's transaction. Through SQLAlchemy Core each cost ~0.3 ms of
# Python besides its round trip, a third of the webhook's CPU (bench/RESULTS.md); asyncpg keeps
# each prepared per connection, keyed by its text.
_s, _w, _r, _c, _e = models.sellers, models.webhook_secrets, models.webhook_receipts, models.cases, models.case_events
_INSERT_CASE = pg_insert(_c).on_conflict_do_nothing(index_elements=["dispute_id"]).returning(_c.c.dispute_id)
_ADD_TIMELINE = pg_insert(_e).on_conflict_do_nothing(index_elements=["event_id"]).returning(_e.c.id)


# The seller's live secrets and rules, and the webhook-id's receipt claimed, in one round trip (a
# data-modifying CTE). The claim is made before the signature is checked, but a refused notice
# rolls its transaction back, so nothing of it stays; a concurrent twin of the same webhook-id
# waits on the claim until the first one commits, and then finds it taken.
_CONTEXT_AND_CLAIM = f"""
WITH claim AS (
    INSERT INTO {qualified_name(_r)} (seller_id, webhook_id) VALUES ($1, $2)
    ON CONFLICT (seller_id, webhook_id) DO NOTHING
    RETURNING webhook_id
)
SELECT w.secret_encrypted, s.rules, (SELECT count(*) FROM claim) AS claimed
FROM {qualified_name(_w)} AS w JOIN {qualified_name(_s)} AS s ON s.seller_id = w.seller_id
WHERE w.seller_id = $1 AND (w.expires_at IS NULL OR w.expires_at > $3)
ORDER BY w.id DESC"""

_SET_RECEIPT_ANSWER = f"UPDATE {qualified_name(_r)} SET answer = $3::jsonb WHERE seller_id = $1 AND webhook_id = $2"

# A new case with everything its creation writes, in one round trip: the case row (which stays
# locked by its INSERT until commit, so the dispute's later events queue behind this one), its
# first timeline row, its `dispute.received` in the outbox with the relay's NOTIFY (the row and
# channel of shared.db.outbox.Outbox), and whether facts were parked for the dispute before it
# existed (the parking table's own look-up function, which takes the dispute's shared parking
# lock first: held until commit, so a parker that did not show up here sees the case instead;
# see shared.db.parking). Nothing of it but the case insert happens when the dispute exists.
# With a receipt answer too: the webhook-id's answer, known beforehand when the case gets created
# (a one-dispute notice), is set in the same statement; the receipt row is this transaction's claim.
_open_case_sql: dict[tuple[tuple[str, ...], bool], str] = {}


def _open_case(columns: tuple[str, ...], *, answer: bool) -> str:
    """The statement for a case of these columns (built once per set of columns)."""
    sql = _open_case_sql.get((columns, answer))
    if sql is None:
        n = len(columns)
        event_id, type_, time, status, summary, key, payload, headers, channel = (f"${n + i}" for i in range(1, 10))
        seller_id, webhook_id, answer_json = (f"${n + i}" for i in range(10, 13))
        answered = f"""
), answered AS (
    UPDATE {qualified_name(_r)} SET answer = {answer_json}::jsonb
    WHERE seller_id = {seller_id}::text AND webhook_id = {webhook_id}::text AND EXISTS (SELECT FROM new_case)"""
        sql = _open_case_sql[(columns, answer)] = f"""
WITH new_case AS (
    INSERT INTO {qualified_name(_c)} ({", ".join(columns)}) VALUES ({", ".join(f"${i}" for i in range(1, n + 1))})
    ON CONFLICT (dispute_id) DO NOTHING
    RETURNING dispute_id
), new_entry AS (
    INSERT INTO {qualified_name(_e)}
        (dispute_id, event_id, "type", occurred_at, status_before, status_after, applied, summary)
    SELECT dispute_id, {event_id}::uuid, {type_}::text, {time}::timestamptz, NULL, {status}::text, true,
           {summary}::jsonb
    FROM new_case
), queued AS (
    INSERT INTO {qualified_name(_outbox.table)} (event_id, topic, "key", payload, headers)
    SELECT {event_id}::uuid, {type_}::text, {key}::text, {payload}::bytea, {headers}::jsonb FROM new_case
    RETURNING id{answered if answer else ""}
)
SELECT (SELECT count(pg_notify({channel}::text, '')) FROM queued) AS notified,
       (SELECT count(*) FROM {parked_of_function(models.parked_events_table)}(new_case.dispute_id, 1)) AS parked
FROM new_case"""
    return sql


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
        self._connection: asyncpg.Connection | None = None

    async def _driver(self) -> asyncpg.Connection:
        """The session's asyncpg connection, in its transaction (for the webhook's statements)."""
        if self._connection is None:
            self._connection = await driver_connection(self.session)
        return self._connection

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
                t.c.tracking_carriers,
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
        rows = await (await self._driver()).fetch(_CONTEXT_AND_CLAIM, seller_id, webhook_id, now)
        if not rows:
            return [], {}, False
        return [row["secret_encrypted"] for row in rows], rows[0]["rules"], rows[0]["claimed"] > 0

    # ------------------------------------------------------------------ webhook receipts

    async def receipt_answer(self, seller_id: str, webhook_id: str) -> dict[str, Any] | None:
        t = models.webhook_receipts
        query = select(t.c.answer).where(t.c.seller_id == seller_id, t.c.webhook_id == webhook_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def set_receipt_answer(self, seller_id: str, webhook_id: str, answer_json: str) -> None:
        """Keep the answer (JSON text) that a repeat of this webhook-id gets."""
        await (await self._driver()).execute(_SET_RECEIPT_ANSWER, seller_id, webhook_id, answer_json)

    # ------------------------------------------------------------------ cases

    async def insert_case(self, values: dict[str, Any]) -> bool:
        """True if this created the case; its row then stays locked until commit (events stay in order)."""
        return (await self.session.execute(_INSERT_CASE, values)).first() is not None

    async def open_case(
        self, values: dict[str, Any], event: Envelope, *, answer: tuple[str, str, str] | None = None
    ) -> tuple[bool, bool]:
        """Insert the case of `values` unless its dispute exists, and only then its first timeline row
        (`event`, applied, status `received`), `event` in the outbox and, if given, the receipt's
        answer (seller id, webhook-id, answer JSON): one round trip. Returns (created, facts are
        parked for it). A created case stays locked until commit."""
        row = _outbox.row(event)
        summary = event.data.model_dump_json(exclude_none=True, exclude={"dispute_id"})
        args = [
            *values.values(),
            event.id,
            event.type,
            event.time,
            values["status"],
            summary,
            row["key"],
            row["payload"],
            json.dumps(row["headers"]),
            _outbox.channel,
        ]
        if answer is not None:
            args.extend(answer)
        found = await (await self._driver()).fetchrow(_open_case(tuple(values), answer=answer is not None), *args)
        if found is None:
            return False, False
        _outbox.mark_notified(self.session)  # a later event of this transaction needs no NOTIFY of its own
        return True, found["parked"] > 0

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
