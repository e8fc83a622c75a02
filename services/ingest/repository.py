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
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import models
from shared.contracts import Envelope, EventData
from shared.db.backbone import parked_of_function, qualified_name
from shared.db.outbox import Outbox, OutboxPart
from shared.db.rows import row_by_key
from shared.db.session import driver_connection

_outbox = Outbox(models.outbox_table)
_UUIDS = ARRAY(UUID(as_uuid=True))

# The webhook's statements, and every write of the `cases` table and its timeline (one write path
# per table): SQL run on the session's asyncpg connection (shared.db.session.driver_connection),
# in the session's transaction. Through SQLAlchemy Core each cost ~0.3 ms of Python besides its
# round trip, a third of the webhook's CPU (bench/RESULTS.md); asyncpg keeps each prepared per
# connection, keyed by its text. Parameters are asyncpg's: JSONB goes in as JSON text (`_jsonb`).
_CASES, _TIMELINE = qualified_name(models.cases), qualified_name(models.case_events)
_JSONB_COLUMNS = {column.name for column in models.cases.c if isinstance(column.type, JSONB)}
_PG = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy's dialect constructors carry no annotations

# A timeline row's columns after its dispute id, in the order of `_timeline_params`: its one encoding.
_TIMELINE_COLUMNS = '(dispute_id, event_id, "type", occurred_at, status_before, status_after, applied, summary)'
_TIMELINE_CASTS = "{}::uuid, {}::text, {}::timestamptz, {}::text, {}::text, {}::boolean, {}::jsonb"
_ADD_TIMELINE = f"""
INSERT INTO {_TIMELINE} {_TIMELINE_COLUMNS}
VALUES ($1::text, {_TIMELINE_CASTS.format(*(f"${i}" for i in range(2, 9)))})
ON CONFLICT (event_id) DO NOTHING
RETURNING id"""


def _timeline_params(
    event_id: uuid.UUID,
    type_: str,
    occurred_at: datetime,
    before: str | None,
    after: str | None,
    applied: bool,
    summary: str,
) -> list[Any]:
    return [event_id, type_, occurred_at, before, after, applied, summary]


def _summary(event: Envelope[Any]) -> str:
    """What the timeline shows of an event, as JSON: its data but the dispute id."""
    data: EventData = event.data
    # pydantic's own encoder: on every webhook, a model_dump + json.dumps costs several times more.
    return data.model_dump_json(exclude_none=True, exclude={"dispute_id"})


def _status_summary(status: str) -> str:
    """The timeline summary of a history row without an event: its status only."""
    return json.dumps({"status": status})


def _jsonb(values: dict[str, Any]) -> list[Any]:
    """A case's column values as asyncpg parameters (JSONB columns as JSON text)."""
    return [
        json.dumps(value) if name in _JSONB_COLUMNS and value is not None else value for name, value in values.items()
    ]


def _insert_case(columns: tuple[str, ...], *, rows: str) -> str:
    """The one INSERT of cases: from `rows` (a VALUES list or a SELECT of these columns); new ones' ids returned."""
    return f"""INSERT INTO {_CASES} ({", ".join(columns)}) {rows}
    ON CONFLICT (dispute_id) DO NOTHING
    RETURNING dispute_id"""


def _column_types(columns: tuple[str, ...]) -> list[str]:
    return [models.cases.c[name].type.compile(dialect=_PG) for name in columns]


# The seller's live secrets and rules, and the webhook-id's receipt claimed, in one round trip (a
# data-modifying CTE). The claim is made before the signature is checked, but a refused notice
# rolls its transaction back, so nothing of it stays; a concurrent twin of the same webhook-id
# waits on the claim until the first one commits, and then finds it taken.
_CONTEXT_AND_CLAIM = f"""
WITH claim AS (
    INSERT INTO {qualified_name(models.webhook_receipts)} (seller_id, webhook_id) VALUES ($1, $2)
    ON CONFLICT (seller_id, webhook_id) DO NOTHING
    RETURNING webhook_id
)
SELECT secret.secret_encrypted, seller.rules, (SELECT count(*) FROM claim) AS claimed
FROM {qualified_name(models.webhook_secrets)} AS secret
JOIN {qualified_name(models.sellers)} AS seller ON seller.seller_id = secret.seller_id
WHERE secret.seller_id = $1 AND (secret.expires_at IS NULL OR secret.expires_at > $3)
ORDER BY secret.id DESC"""

_SET_RECEIPT_ANSWER = (
    f"UPDATE {qualified_name(models.webhook_receipts)} SET answer = $3::jsonb WHERE seller_id = $1 AND webhook_id = $2"
)

# A new case with everything its creation writes, in one round trip: the case row (which stays
# locked by its INSERT until commit, so the dispute's later events queue behind this one), its
# first timeline row, its `dispute.received` in the outbox with the relay's NOTIFY (the
# outbox's own part of the statement, shared.db.outbox.Outbox.statement_part), and whether facts
# were parked for the dispute before it existed (the parking table's own look-up function, which
# takes the dispute's shared parking lock first: held until commit, so a parker that did not show
# up here sees the case instead; see shared.db.parking). Nothing of it but the case insert
# happens when the dispute exists.
# With a receipt answer too: the webhook-id's answer, known beforehand when the case gets created
# (a one-dispute notice), is set in the same statement; the receipt row is this transaction's claim.
_open_case_sql: dict[tuple[tuple[str, ...], bool], tuple[str, OutboxPart]] = {}


def _open_case(columns: tuple[str, ...], *, answer: bool) -> tuple[str, OutboxPart]:
    """The statement for a case of these columns and its outbox part (built once per set of columns)."""
    built = _open_case_sql.get((columns, answer))
    if built is None:
        n = len(columns)
        entry = _TIMELINE_CASTS.format(*(f"${n + i}" for i in range(1, 8)))
        queued = _outbox.statement_part(source="new_case", first=n + 8)
        seller_id, webhook_id, answer_json = (f"${n + 14 + i}" for i in range(3))
        answered = f"""
), answered AS (
    UPDATE {qualified_name(models.webhook_receipts)} SET answer = {answer_json}::jsonb
    WHERE seller_id = {seller_id}::text AND webhook_id = {webhook_id}::text AND EXISTS (SELECT FROM new_case)"""
        values = f"VALUES ({', '.join(f'${i}' for i in range(1, n + 1))})"
        sql = f"""
WITH new_case AS (
    {_insert_case(columns, rows=values)}
), new_entry AS (
    INSERT INTO {_TIMELINE} {_TIMELINE_COLUMNS}
    SELECT dispute_id, {entry} FROM new_case
), queued AS (
    {queued.insert}{answered if answer else ""}
)
SELECT {queued.notify("queued")} AS notified,
       (SELECT count(*) FROM {parked_of_function(models.parked_events_table)}(new_case.dispute_id, 1)) AS parked
FROM new_case"""
        built = _open_case_sql[(columns, answer)] = (sql, queued)
    return built


_INSERT_CASES_SQL: dict[tuple[str, ...], str] = {}


def _insert_cases(columns: tuple[str, ...]) -> str:
    """Many cases in one statement, one array per column (the same text for any number of rows)."""
    sql = _INSERT_CASES_SQL.get(columns)
    if sql is None:
        arrays = ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(_column_types(columns), start=1))
        sql = _INSERT_CASES_SQL[columns] = _insert_case(columns, rows=f"SELECT * FROM unnest({arrays})")
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

    async def insert_seller(self, seller_id: str, name: str, contact: str) -> Row[Any] | None:
        """The new seller, or None when the id is taken."""
        sellers = models.sellers
        stmt = (
            pg_insert(sellers)
            .values(seller_id=seller_id, name=name, contact=contact)
            .on_conflict_do_nothing(index_elements=["seller_id"])
            .returning(*sellers.c)
        )
        return (await self.session.execute(stmt)).first()

    async def seller(self, seller_id: str) -> Row[Any] | None:
        sellers = models.sellers
        return (await self.session.execute(select(sellers).where(sellers.c.seller_id == seller_id))).first()

    async def sellers(self, *, after: str | None, limit: int) -> list[Row[Any]]:
        sellers = models.sellers
        query = select(sellers).order_by(sellers.c.seller_id).limit(limit)
        if after is not None:
            query = query.where(sellers.c.seller_id > after)
        return list(await self.session.execute(query))

    async def set_rules(self, seller_id: str, rules: dict[str, Any]) -> bool:
        sellers = models.sellers
        stmt = (
            update(sellers).where(sellers.c.seller_id == seller_id).values(rules=rules).returning(sellers.c.seller_id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def set_plan(self, seller_id: str, plan: dict[str, Any]) -> bool:
        sellers = models.sellers
        stmt = update(sellers).where(sellers.c.seller_id == seller_id).values(plan=plan).returning(sellers.c.seller_id)
        return (await self.session.execute(stmt)).first() is not None

    async def set_rates(self, month: str, plan_currency: str, rates: dict[str, Decimal]) -> None:
        """Replace the month's rates into `plan_currency`."""
        rates_table = models.exchange_rates
        await self.session.execute(
            delete(rates_table).where(rates_table.c.month == month, rates_table.c.plan_currency == plan_currency)
        )
        rows = [{"month": month, "plan_currency": plan_currency, "currency": c, "rate": r} for c, r in rates.items()]
        await self.session.execute(insert(rates_table), rows)

    async def rates(self, month: str, plan_currency: str) -> dict[str, Decimal]:
        rates_table = models.exchange_rates
        query = select(rates_table.c.currency, rates_table.c.rate).where(
            rates_table.c.month == month, rates_table.c.plan_currency == plan_currency
        )
        return {currency: rate for currency, rate in await self.session.execute(query)}

    async def month_activity(self, seller_id: str, start: datetime, end: datetime) -> list[Row[Any]]:
        """Cases submitted in [start, end), or decided won/partial in it."""
        cases = models.cases
        submitted = and_(cases.c.submitted_at >= start, cases.c.submitted_at < end)
        decided = and_(
            cases.c.status.in_(["won", "partial"]), cases.c.status_changed_at >= start, cases.c.status_changed_at < end
        )
        query = (
            select(
                cases.c.dispute_id,
                cases.c.submitted_at,
                cases.c.status,
                cases.c.status_changed_at,
                cases.c.verdict,
                cases.c.amount_value,
                cases.c.amount_currency,
                cases.c.tracking_carriers,
            )
            .where(cases.c.seller_id == seller_id, or_(submitted, decided))
            .order_by(cases.c.dispute_id)
        )
        return list(await self.session.execute(query))

    async def lock_seller(self, seller_id: str) -> Row[Any] | None:
        sellers = models.sellers
        return (
            await self.session.execute(select(sellers).where(sellers.c.seller_id == seller_id).with_for_update())
        ).first()

    async def add_secret(self, seller_id: str, sealed: bytes) -> None:
        await self.session.execute(insert(models.webhook_secrets).values(seller_id=seller_id, secret_encrypted=sealed))

    async def expire_current_secrets(self, seller_id: str, expires_at: datetime) -> None:
        secrets = models.webhook_secrets
        await self.session.execute(
            update(secrets)
            .where(secrets.c.seller_id == seller_id, secrets.c.expires_at.is_(None))
            .values(expires_at=expires_at)
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
        receipts = models.webhook_receipts
        query = select(receipts.c.answer).where(receipts.c.seller_id == seller_id, receipts.c.webhook_id == webhook_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def set_receipt_answer(self, seller_id: str, webhook_id: str, answer_json: str) -> None:
        """Keep the answer (JSON text) that a repeat of this webhook-id gets."""
        await (await self._driver()).execute(_SET_RECEIPT_ANSWER, seller_id, webhook_id, answer_json)

    # ------------------------------------------------------------------ cases

    async def insert_case(self, values: dict[str, Any]) -> bool:
        """True if this created the case; its row then stays locked until commit (events stay in order)."""
        columns = tuple(values)
        sql = _insert_case(columns, rows=f"VALUES ({', '.join(f'${i}' for i in range(1, len(columns) + 1))})")
        return await (await self._driver()).fetchrow(sql, *_jsonb(values)) is not None

    async def open_case(
        self, values: dict[str, Any], event: Envelope[Any], *, answer: tuple[str, str, str] | None = None
    ) -> tuple[bool, bool]:
        """Insert the case of `values` unless its dispute exists, and only then its first timeline row
        (`event`, applied, status `received`), `event` in the outbox and, if given, the receipt's
        answer (seller id, webhook-id, answer JSON): one round trip. Returns (created, facts are
        parked for it). A created case stays locked until commit."""
        sql, queued = _open_case(tuple(values), answer=answer is not None)
        entry = _timeline_params(event.id, event.type, event.time, None, values["status"], True, _summary(event))
        args = [*_jsonb(values), *entry, *queued.params(event), *(answer or ())]
        found = await (await self._driver()).fetchrow(sql, *args)
        if found is None:
            return False, False
        queued.ran(self.session)  # a later event of this transaction needs no NOTIFY of its own
        return True, found["parked"] > 0

    async def insert_cases(self, values: list[dict[str, Any]]) -> set[str]:
        """Insert many cases at once (rows of the same columns); the ids of those this created (the others existed)."""
        if not values:
            return set()
        columns = tuple(values[0])
        arrays = [list(column) for column in zip(*(_jsonb(row) for row in values), strict=True)]
        rows = await (await self._driver()).fetch(_insert_cases(columns), *arrays)
        return {row["dispute_id"] for row in rows}

    async def case(self, dispute_id: str, *, lock: bool = False) -> Row[Any] | None:
        return await row_by_key(self.session, models.cases, dispute_id, key="dispute_id", lock=lock)

    async def existing_case(self, dispute_id: str) -> Row[Any]:
        """A case this transaction has created or locked (so it is there)."""
        cases = models.cases
        return (await self.session.execute(select(cases).where(cases.c.dispute_id == dispute_id))).one()

    async def update_case(self, dispute_id: str, values: dict[str, Any]) -> None:
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=2))
        sql = f"UPDATE {_CASES} SET {sets}, updated_at = now() WHERE dispute_id = $1"
        await (await self._driver()).execute(sql, dispute_id, *_jsonb(values))

    async def cases(self, where: CaseFilter, *, after: CaseCursor | None, limit: int) -> list[Row[Any]]:
        """Most urgent first: open cases by nearest deadline, then the rest; keyset-paginated."""
        cases = models.cases
        conditions = []
        if where.seller_id is not None:
            conditions.append(cases.c.seller_id == where.seller_id)
        if where.statuses:
            conditions.append(cases.c.status.in_(list(where.statuses)))
        if where.reason_codes:
            conditions.append(cases.c.reason_code.in_(list(where.reason_codes)))
        if where.due_before is not None:
            conditions.append(cases.c.due_at < where.due_before)
        if where.q:
            pattern = _like(where.q)
            conditions.append(
                or_(
                    *(
                        column.ilike(pattern, escape="\\")
                        for column in (cases.c.dispute_id, cases.c.order_id, cases.c.buyer_id, cases.c.notice_id)
                    )
                )
            )
        if after is not None:
            conditions.append(
                tuple_(cases.c.urgency, cases.c.due_key, cases.c.dispute_id)
                > tuple_(after.urgency, after.due_key, after.dispute_id)
            )
        query = (
            select(cases)
            .where(and_(True, *conditions))
            .order_by(cases.c.urgency, cases.c.due_key, cases.c.dispute_id)
            .limit(limit)
        )
        return list(await self.session.execute(query))

    async def buyer_cases(self, seller_id: str, buyer_id: str) -> list[Row[Any]]:
        cases = models.cases
        query = (
            select(cases.c.dispute_id, cases.c.order_id, cases.c.reason_code, cases.c.notified_at, cases.c.status)
            .where(cases.c.seller_id == seller_id, cases.c.buyer_id == buyer_id)
            .order_by(cases.c.notified_at)
        )
        return list(await self.session.execute(query))

    async def stats_tallies(
        self, seller_id: str | None, *, since: datetime | None, until: datetime | None
    ) -> tuple[list[Row[Any]], int, int]:
        """Case counts by (reason, KST month, carrier, status), and how many were submitted on time / late."""
        cases = models.cases
        conditions = []
        if seller_id is not None:
            conditions.append(cases.c.seller_id == seller_id)
        if since is not None:
            conditions.append(cases.c.notified_at >= since)
        if until is not None:
            conditions.append(cases.c.notified_at < until)
        month = func.to_char(func.timezone("Asia/Seoul", cases.c.notified_at), "YYYY-MM").label("month")
        carrier = func.coalesce(cases.c.carrier, "unknown").label("carrier")
        tallies = select(cases.c.reason_code, month, carrier, cases.c.status, func.count().label("tally"))
        tallies = tallies.where(and_(True, *conditions)).group_by(cases.c.reason_code, month, carrier, cases.c.status)
        rows = list(await self.session.execute(tallies))
        known = and_(True, *conditions, cases.c.submitted_at.is_not(None), cases.c.due_at.is_not(None))
        timing = select(
            func.count().filter(cases.c.submitted_at <= cases.c.due_at),
            func.count().filter(cases.c.submitted_at > cases.c.due_at),
        ).where(known)
        on_time, late = (await self.session.execute(timing)).one()
        return rows, on_time, late

    # ------------------------------------------------------------------ timeline and events

    async def add_timeline(
        self,
        dispute_id: str,
        event: Envelope[Any],
        *,
        status_before: str | None,
        status_after: str | None,
        applied: bool,
    ) -> bool:
        """Record `event` in the case's timeline; False if it was recorded before."""
        params = _timeline_params(
            event.id, event.type, event.time, status_before, status_after, applied, _summary(event)
        )
        return await (await self._driver()).fetchrow(_ADD_TIMELINE, dispute_id, *params) is not None

    async def add_import_timeline(
        self, entries: Sequence[tuple[str, Envelope[Any] | None, str]], *, now: datetime
    ) -> None:
        """Timeline rows of imported cases: their `dispute.received`, or an `import` entry for history."""
        rows = [
            [dispute_id, *_timeline_params(event.id, event.type, event.time, None, status, True, _summary(event))]
            if event is not None
            else [
                dispute_id,
                *_timeline_params(uuid.uuid4(), "dispute.imported", now, None, status, True, _status_summary(status)),
            ]
            for dispute_id, event, status in entries
        ]
        if rows:
            await (await self._driver()).executemany(_ADD_TIMELINE, rows)

    async def knows_event(self, event_id: uuid.UUID) -> bool:
        timeline = models.case_events
        return (
            await self.session.execute(select(timeline.c.id).where(timeline.c.event_id == event_id))
        ).first() is not None

    async def known_events(self, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `event_ids` are in some case's timeline already (one round trip for a batch)."""
        timeline = models.case_events
        query = select(timeline.c.event_id).where(
            timeline.c.event_id == func.any(bindparam("ids", list(event_ids), _UUIDS))
        )
        return set((await self.session.execute(query)).scalars())

    async def timeline(self, dispute_id: str) -> list[Row[Any]]:
        timeline = models.case_events
        return list(
            await self.session.execute(
                select(timeline).where(timeline.c.dispute_id == dispute_id).order_by(timeline.c.id)
            )
        )

    async def add_events(self, *events: Envelope[Any]) -> None:
        await _outbox.add(self.session, *events)
