"""Every query of the evidence service, on the caller's session (which it never commits)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.evidence import models
from shared.contracts import Envelope
from shared.db.outbox import Outbox
from shared.db.rows import insert_new, row_by_key

_outbox = Outbox(models.outbox_table)
_cases, _items, _reports, _tracking = models.cases, models.evidence_items, models.reports, models.tracking_index


class EvidenceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # ------------------------------------------------------------------ cases

    async def insert_case(self, values: dict[str, Any]) -> bool:
        """A new case from `dispute.received`; False when the dispute is known already."""
        return await insert_new(self.session, _cases, values, key="dispute_id")

    async def case(self, dispute_id: str, *, lock: bool = False) -> Row[Any] | None:
        """The case; `lock` takes its row FOR UPDATE (one dispute's writes and events stay in order)."""
        return await row_by_key(self.session, _cases, dispute_id, key="dispute_id", lock=lock)

    async def set_submitted(self, dispute_id: str, submitted_at: datetime) -> None:
        """Mark the case submitted (the first submission's time is kept)."""
        stmt = update(_cases).where(_cases.c.dispute_id == dispute_id, _cases.c.submitted_at.is_(None))
        await self.session.execute(stmt.values(submitted_at=submitted_at))

    async def amend_case(self, dispute_id: str, values: dict[str, Any]) -> None:
        """Amended facts of the case (`dispute.updated`); its facts version moves on, so reports read
        before it are stale. An amended order id also moves to the case's tracking-index rows."""
        stmt = update(_cases).where(_cases.c.dispute_id == dispute_id)
        await self.session.execute(stmt.values(**values, facts_version=_cases.c.facts_version + 1))
        if "order_id" in values:
            stmt = update(_tracking).where(_tracking.c.dispute_id == dispute_id).values(order_id=values["order_id"])
            await self.session.execute(stmt)

    async def close_case(self, dispute_id: str, *, at: datetime, closed_as: str) -> None:
        """The case was accepted or closed (the first time is kept): no more uploads or deletes."""
        stmt = update(_cases).where(_cases.c.dispute_id == dispute_id, _cases.c.closed_at.is_(None))
        await self.session.execute(stmt.values(closed_at=at, closed_as=closed_as))

    async def latest_language(self, seller_id: str) -> str | None:
        """The language of the seller's latest received dispute that carried one."""
        query = (
            select(_cases.c.language)
            .where(_cases.c.seller_id == seller_id, _cases.c.language.is_not(None))
            .order_by(_cases.c.received_at.desc(), _cases.c.dispute_id.desc())
            .limit(1)
        )
        return (await self.session.execute(query)).scalar()

    async def set_deadline(self, dispute_id: str, due_at: datetime, event_at: datetime) -> None:
        """Keep the deadline of the latest `deadline.scheduled` (an older one changes nothing)."""
        stmt = (
            update(_cases)
            .where(_cases.c.dispute_id == dispute_id)
            .where((_cases.c.deadline_event_at.is_(None)) | (_cases.c.deadline_event_at <= event_at))
            .values(due_at=due_at, deadline_event_at=event_at)
        )
        await self.session.execute(stmt)

    async def evidence_changed(self, dispute_id: str, *, now: datetime, delay: timedelta, max_wait: timedelta) -> int:
        """A new evidence set: its version bumped and its check due `delay` from now, but no later than
        `max_wait` after the first change not yet checked. Returns the set's version."""
        pending = func.coalesce(_cases.c.check_pending_since, now)
        stmt = (
            update(_cases)
            .where(_cases.c.dispute_id == dispute_id)
            .values(
                set_version=_cases.c.set_version + 1,
                check_pending_since=pending,
                check_due_at=func.least(now + delay, pending + max_wait),
            )
            .returning(_cases.c.set_version)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def claim_due_case(self, now: datetime) -> Row[Any] | None:
        """One case whose check is due, locked; cases another worker holds are skipped."""
        query = (
            select(_cases)
            .where(_cases.c.check_due_at.is_not(None), _cases.c.check_due_at <= now)
            .order_by(_cases.c.check_due_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(query)).first()

    async def next_check_due(self) -> datetime | None:
        due: datetime | None = (await self.session.execute(select(func.min(_cases.c.check_due_at)))).scalar()
        return due

    async def schedule_check(self, dispute_id: str, *, now: datetime) -> None:
        """A check due now, unless one is already scheduled (a pending debounced run reads the new facts)."""
        stmt = update(_cases).where(_cases.c.dispute_id == dispute_id)
        await self.session.execute(
            stmt.values(
                check_due_at=func.coalesce(_cases.c.check_due_at, now),
                check_pending_since=func.coalesce(_cases.c.check_pending_since, now),
            )
        )

    async def set_check_due(self, dispute_id: str, at: datetime) -> None:
        """Try the check again at `at` (after a failed run)."""
        await self.session.execute(update(_cases).where(_cases.c.dispute_id == dispute_id).values(check_due_at=at))

    async def checked(self, dispute_id: str) -> None:
        """The current set has a report: nothing is due any more."""
        stmt = (
            update(_cases).where(_cases.c.dispute_id == dispute_id).values(check_due_at=None, check_pending_since=None)
        )
        await self.session.execute(stmt)

    # ------------------------------------------------------------------ evidence items

    async def insert_item(self, values: dict[str, Any]) -> Row[Any]:
        return (await self.session.execute(insert(_items).values(**values).returning(*_items.c))).one()

    async def item(self, dispute_id: str, evidence_id: uuid.UUID, *, include_deleted: bool = False) -> Row[Any] | None:
        query = select(_items).where(_items.c.dispute_id == dispute_id, _items.c.id == evidence_id)
        if not include_deleted:
            query = query.where(_items.c.deleted_at.is_(None))
        return (await self.session.execute(query)).first()

    async def items(self, dispute_id: str, *, include_deleted: bool = False, with_facts: bool = True) -> list[Row[Any]]:
        """The case's items in upload order (the evidence set when deleted ones are left out)."""
        columns = list(_items.c) if with_facts else [c for c in _items.c if c.name != "facts"]
        query = select(*columns).where(_items.c.dispute_id == dispute_id).order_by(_items.c.uploaded_at, _items.c.id)
        if not include_deleted:
            query = query.where(_items.c.deleted_at.is_(None))
        return list(await self.session.execute(query))

    async def current_set(self, dispute_id: str) -> list[Row[Any]]:
        """(id, kind, sha256) of the live items, in upload order."""
        query = (
            select(_items.c.id, _items.c.kind, _items.c.sha256)
            .where(_items.c.dispute_id == dispute_id, _items.c.deleted_at.is_(None))
            .order_by(_items.c.uploaded_at, _items.c.id)
        )
        return list(await self.session.execute(query))

    async def mark_deleted(self, evidence_id: uuid.UUID, *, at: datetime, by: str) -> None:
        await self.session.execute(
            update(_items).where(_items.c.id == evidence_id).values(deleted_at=at, deleted_by=by)
        )

    # ------------------------------------------------------------------ tracking index

    async def index_tracking(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(_tracking), list(rows))

    async def unindex_tracking(self, evidence_id: uuid.UUID) -> None:
        await self.session.execute(delete(_tracking).where(_tracking.c.evidence_id == evidence_id))

    async def tracking_matches(self, seller_id: str, dispute_id: str, number_keys: Sequence[str]) -> list[Row[Any]]:
        """The seller's other cases' tracking rows that share a number with this case."""
        if not number_keys:
            return []
        query = select(
            _tracking.c.carrier, _tracking.c.tracking_number, _tracking.c.order_id, _tracking.c.dispute_id
        ).where(
            _tracking.c.seller_id == seller_id,
            _tracking.c.number_key.in_(list(number_keys)),
            _tracking.c.dispute_id != dispute_id,
        )
        return list(await self.session.execute(query))

    # ------------------------------------------------------------------ reports

    async def insert_report(self, values: dict[str, Any]) -> Row[Any]:
        return (await self.session.execute(insert(_reports).values(**values).returning(*_reports.c))).one()

    async def latest_report(self, dispute_id: str) -> Row[Any] | None:
        query = (
            select(_reports)
            .where(_reports.c.dispute_id == dispute_id)
            .order_by(_reports.c.checked_at.desc(), _reports.c.id)
            .limit(1)
        )
        return (await self.session.execute(query)).first()

    # ------------------------------------------------------------------ outbox

    async def add_events(self, *events: Envelope[Any]) -> None:
        await _outbox.add(self.session, *events)
