"""Every query of the submit service, on the caller's session (which it never commits)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.submit import models
from shared.contracts import Envelope
from shared.db.outbox import Outbox
from shared.db.rows import insert_new, row_by_key

_outbox = Outbox(models.outbox_table)
_cases, _portals, _submissions = models.cases, models.seller_portals, models.submissions
_verdicts, _keys = models.verdicts, models.idempotency_keys


class SubmitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ------------------------------------------------------------------ cases

    async def insert_case(self, values: dict[str, Any]) -> bool:
        return await insert_new(self.session, _cases, values, key="dispute_id")

    async def case(self, dispute_id: str, *, lock: bool = False) -> Row[Any] | None:
        """The case; `lock` takes its row FOR UPDATE (a submit, its events and its verdict stay in order)."""
        return await row_by_key(self.session, _cases, dispute_id, key="dispute_id", lock=lock)

    async def update_case(self, dispute_id: str, values: dict[str, Any]) -> None:
        stmt = update(_cases).where(_cases.c.dispute_id == dispute_id).values(**values, updated_at=func.now())
        await self.session.execute(stmt)

    async def set_report(self, dispute_id: str, values: dict[str, Any], event_at: datetime) -> None:
        """Keep the latest `evidence.validated` (an older one, delivered late, changes nothing)."""
        stmt = (
            update(_cases)
            .where(_cases.c.dispute_id == dispute_id)
            .where(_cases.c.report_at.is_(None) | (_cases.c.report_at <= event_at))
            .values(**values, report_at=event_at, updated_at=func.now())
        )
        await self.session.execute(stmt)

    async def set_deadline(self, dispute_id: str, due_at: datetime, event_at: datetime) -> None:
        stmt = (
            update(_cases)
            .where(_cases.c.dispute_id == dispute_id)
            .where(_cases.c.deadline_event_at.is_(None) | (_cases.c.deadline_event_at <= event_at))
            .values(due_at=due_at, deadline_event_at=event_at, updated_at=func.now())
        )
        await self.session.execute(stmt)

    # ------------------------------------------------------------------ seller portals

    async def portal_of(self, seller_id: str) -> Row[Any] | None:
        return (await self.session.execute(select(_portals).where(_portals.c.seller_id == seller_id))).first()

    async def set_portal(self, seller_id: str, adapter: str, endpoint: str | None, vendor_id: str | None) -> None:
        values = {"adapter": adapter, "endpoint": endpoint, "vendor_id": vendor_id, "updated_at": func.now()}
        stmt = pg_insert(_portals).values(seller_id=seller_id, **values)
        await self.session.execute(stmt.on_conflict_do_update(index_elements=["seller_id"], set_=values))

    # ------------------------------------------------------------------ submissions

    async def submission(self, dispute_id: str, *, lock: bool = False) -> Row[Any] | None:
        query = select(_submissions).where(_submissions.c.dispute_id == dispute_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).first()

    async def submission_by_receipt(self, receipt_id: str) -> Row[Any] | None:
        query = select(_submissions).where(_submissions.c.receipt_id == receipt_id)
        return (await self.session.execute(query)).first()

    async def insert_submission(self, values: dict[str, Any]) -> None:
        await self.session.execute(pg_insert(_submissions).values(**values))

    async def delete_submission(self, dispute_id: str) -> None:
        await self.session.execute(delete(_submissions).where(_submissions.c.dispute_id == dispute_id))

    async def complete_submission(self, dispute_id: str, values: dict[str, Any]) -> Row[Any] | None:
        """Record the receipt of a not yet receipted submission: the row, or None when another path did."""
        stmt = (
            update(_submissions)
            .where(_submissions.c.dispute_id == dispute_id, _submissions.c.state != "receipted")
            .values(state="receipted", **values)
            .returning(*_submissions.c)
        )
        return (await self.session.execute(stmt)).first()

    async def set_check(self, dispute_id: str, next_check_at: datetime | None, error: str | None = None) -> None:
        stmt = (
            update(_submissions)
            .where(_submissions.c.dispute_id == dispute_id)
            .values(next_check_at=next_check_at, checks=_submissions.c.checks + 1, last_error=error)
        )
        await self.session.execute(stmt)

    async def claim_due(self, state: str, now: datetime, limit: int, lease_until: datetime) -> list[Row[Any]]:
        """Rows of `state` due for a look, leased until `lease_until` (other replicas skip them meanwhile)."""
        due = (
            select(_submissions.c.dispute_id)
            .where(_submissions.c.state == state, _submissions.c.adapter == "http")
            .where(_submissions.c.next_check_at.is_not(None), _submissions.c.next_check_at <= now)
            .order_by(_submissions.c.next_check_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(_submissions)
            .where(_submissions.c.dispute_id.in_(due.scalar_subquery()))
            .values(next_check_at=lease_until)
            .returning(*_submissions.c)
        )
        return list((await self.session.execute(stmt)).all())

    async def next_check(self) -> datetime | None:
        query = select(_submissions.c.next_check_at).where(_submissions.c.next_check_at.is_not(None))
        return (await self.session.execute(query.order_by(_submissions.c.next_check_at).limit(1))).scalar()

    async def at_risk(self, now: datetime, within: timedelta) -> dict[str, int]:
        """Open, unsubmitted cases due within `within` of `now` whose report is not ready, by report
        status ("none": no report yet). A range of the open cases' due-time index: cheap at every scrape."""
        status = func.coalesce(_cases.c.report_status, "none")
        submitted = select(_submissions.c.dispute_id).where(_submissions.c.dispute_id == _cases.c.dispute_id)
        query = (
            select(status, func.count())
            .where(
                _cases.c.closed.is_(None),
                _cases.c.due_at > now,
                _cases.c.due_at <= now + within,
                _cases.c.report_status.is_distinct_from("ready"),
                ~submitted.exists(),
            )
            .group_by(status)
        )
        return {str(s): int(n) for s, n in (await self.session.execute(query)).all()}

    # ------------------------------------------------------------------ verdicts

    async def insert_verdict(self, values: dict[str, Any]) -> bool:
        """The case's verdict; False when it has one already (a duplicate callback, a poll after it)."""
        stmt = pg_insert(_verdicts).values(**values).on_conflict_do_nothing(index_elements=["dispute_id"])
        return bool((await self.session.execute(stmt.returning(_verdicts.c.dispute_id))).first())

    async def verdict(self, dispute_id: str) -> Row[Any] | None:
        return (await self.session.execute(select(_verdicts).where(_verdicts.c.dispute_id == dispute_id))).first()

    # ------------------------------------------------------------------ idempotency keys

    async def idempotency_key(self, scope: str, key: str) -> Row[Any] | None:
        query = select(_keys).where(_keys.c.scope == scope, _keys.c.key == key)
        return (await self.session.execute(query)).first()

    async def insert_idempotency_key(self, values: dict[str, Any]) -> bool:
        stmt = pg_insert(_keys).values(**values).on_conflict_do_nothing(index_elements=["scope", "key"])
        return bool((await self.session.execute(stmt.returning(_keys.c.key))).first())

    async def delete_idempotency_key(self, scope: str, key: str) -> None:
        await self.session.execute(delete(_keys).where(_keys.c.scope == scope, _keys.c.key == key))

    async def answer_idempotency_key(self, scope: str, key: str, status_code: int, answer: dict[str, Any]) -> None:
        stmt = update(_keys).where(_keys.c.scope == scope, _keys.c.key == key)
        await self.session.execute(stmt.values(status_code=status_code, answer=answer))

    # ------------------------------------------------------------------ outbox

    async def add_events(self, *events: Envelope[Any]) -> None:
        await _outbox.add(self.session, *events)
