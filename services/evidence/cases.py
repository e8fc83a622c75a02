"""The cases evidence knows: what the checker needs of a dispute (`dispute.received`, amended by
`dispute.updated`), its deadline (`deadline.scheduled`), whether it still takes evidence
(`case.submitted`, an accepted or closed `dispute.updated`); and who may touch a case's evidence.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.evidence.errors import CaseClosed, CaseNotFound
from services.evidence.repository import EvidenceRepository
from shared.contracts import (
    CaseSubmittedV1,
    DeadlineScheduledV1,
    DisputeChange,
    DisputeReceivedV1,
    DisputeUpdatedV1,
    Envelope,
)
from shared.kafka.handlers import Deferred
from shared.web.auth import Principal
from shared.worker import Wakeup


async def record_case(session: AsyncSession, event: Envelope[DisputeReceivedV1]) -> None:
    """Keep the dispute's facts; a second `dispute.received` of one dispute changes nothing."""
    data = event.data
    await EvidenceRepository(session).insert_case(
        {
            "dispute_id": data.dispute_id,
            "seller_id": data.seller_id,
            "order_id": data.order_id,
            "amount_value": Decimal(data.amount.value),
            "amount_currency": data.amount.currency,
            "reason_code": data.reason_code.value,
            "kind": data.kind.value,
            "notified_at": data.notified_at,
            "language": data.language,
        }
    )


async def record_update(
    session: AsyncSession, event: Envelope[DisputeUpdatedV1], *, now: datetime, wakeup: Wakeup
) -> None:
    """A `dispute.updated`: parked until the case is known.

    `updated`: an amended amount, reason code or order id becomes the case's fact; a case that
    has a report (or a check pending) is checked again through the debounce worker, and its
    latest report reads stale meanwhile. `accepted` / `closed`: the case takes no more uploads or
    deletes; its `amount` is then what was decided, not an amendment, so no fact changes.
    The case row is locked first, so an upload or a run of the same case waits for this one.
    """
    data = event.data
    repo = EvidenceRepository(session)
    case = await repo.case(data.dispute_id, lock=True)
    if case is None:
        raise Deferred(f"no case {data.dispute_id} yet")
    if data.change in (DisputeChange.accepted, DisputeChange.closed):
        await repo.close_case(data.dispute_id, at=event.time, closed_as=data.change.value)
        return
    amended = amended_facts(case, data)
    if not amended:
        return
    await repo.amend_case(data.dispute_id, amended)
    if case.closed_at is None and (case.check_due_at is not None or await repo.latest_report(data.dispute_id)):
        await repo.schedule_check(data.dispute_id, now=now)
        wakeup.after_commit(session)  # the checker worker, once this transaction commits


def amended_facts(case: Row[Any], data: DisputeUpdatedV1) -> dict[str, Any]:
    """The checker's facts that `data` sets to another value than the case has (only changed fields are set)."""
    values: dict[str, Any] = {}
    if data.amount is not None:
        value = Decimal(data.amount.value)
        if value != case.amount_value or data.amount.currency != case.amount_currency:
            values |= {"amount_value": value, "amount_currency": data.amount.currency}
    if data.reason_code is not None and data.reason_code.value != case.reason_code:
        values["reason_code"] = data.reason_code.value
    if data.order_id is not None and data.order_id != case.order_id:
        values["order_id"] = data.order_id
    return values


async def record_deadline(session: AsyncSession, event: Envelope[DeadlineScheduledV1]) -> None:
    """The latest deadline of the case; parked until the case is known."""
    repo = EvidenceRepository(session)
    if await repo.case(event.data.dispute_id) is None:
        raise Deferred(f"no case {event.data.dispute_id} yet")
    await repo.set_deadline(event.data.dispute_id, event.data.due_at, event.time)


async def record_submission(session: AsyncSession, event: Envelope[CaseSubmittedV1]) -> None:
    """The case was submitted: its evidence set is frozen for deletes; parked until the case is known."""
    repo = EvidenceRepository(session)
    if await repo.case(event.data.dispute_id, lock=True) is None:
        raise Deferred(f"no case {event.data.dispute_id} yet")
    await repo.set_submitted(event.data.dispute_id, event.data.submitted_at)


async def case_of(session: AsyncSession, principal: Principal, dispute_id: str, *, lock: bool = False) -> Row[Any]:
    """The case if `principal` may see it (its seller, or an operator); 404 otherwise, also for another seller's."""
    case = await EvidenceRepository(session).case(dispute_id, lock=lock)
    if case is None or not principal.can_see(case.seller_id):
        raise CaseNotFound("No case with this id.", dispute_id=dispute_id)
    return case


def ensure_open(case: Row[Any]) -> None:
    """409 `case_closed` once the case was accepted or closed: its evidence set no longer changes."""
    if case.closed_at is not None:
        raise CaseClosed(
            f"The case was {case.closed_as}: it takes no more evidence changes.",
            dispute_id=case.dispute_id,
            closed_as=case.closed_as,
        )


def uploader_of(principal: Principal) -> str:
    return "operator" if principal.is_operator else f"seller:{principal.seller_id}"
