"""What the submit service knows of each case, from the events it consumes (issue 18, point 1).

`dispute.received` records the case's facts; `dispute.updated` amends them or marks the case
accepted or closed; `evidence.validated` keeps the latest report (its status, findings and the exact
evidence set with sha256: an older report delivered late changes nothing); `deadline.scheduled` the
due time. An update, report or deadline of a case not received yet raises `Deferred` (parked).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.submit.preflight import CaseFacts, Report
from services.submit.repository import SubmitRepository
from shared.contracts import (
    DeadlineScheduledV1,
    DisputeChange,
    DisputeReceivedV1,
    DisputeUpdatedV1,
    Envelope,
    EvidenceRef,
    EvidenceValidatedV1,
    Finding,
    Money,
)
from shared.kafka.handlers import Deferred


async def record_received(session: AsyncSession, event: Envelope[DisputeReceivedV1]) -> None:
    data = event.data
    await SubmitRepository(session).insert_case(
        {
            "dispute_id": data.dispute_id,
            "seller_id": data.seller_id,
            "order_id": data.order_id,
            "amount_value": data.amount.value,
            "amount_currency": data.amount.currency,
            "reason_code": data.reason_code.value,
            "language": data.language,
            "notified_at": data.notified_at,
        }
    )


async def record_updated(session: AsyncSession, event: Envelope[DisputeUpdatedV1]) -> None:
    data = event.data
    repo = SubmitRepository(session)
    case = await repo.case(data.dispute_id, lock=True)
    if case is None:
        raise Deferred(f"no case {data.dispute_id} yet")
    values: dict[str, Any] = {}
    if data.change in (DisputeChange.accepted, DisputeChange.closed):
        values["closed"] = case.closed or data.change.value
    if data.order_id is not None:
        values["order_id"] = data.order_id
    if data.amount is not None:
        values["amount_value"], values["amount_currency"] = data.amount.value, data.amount.currency
    if data.reason_code is not None:
        values["reason_code"] = data.reason_code.value
    if values:
        await repo.update_case(data.dispute_id, values)


async def record_validated(session: AsyncSession, event: Envelope[EvidenceValidatedV1]) -> None:
    data = event.data
    repo = SubmitRepository(session)
    if await repo.case(data.dispute_id, lock=True) is None:
        raise Deferred(f"no case {data.dispute_id} yet")
    values = {
        "report_id": data.report_id,
        "report_status": data.status,
        "evidence_set": [ref.model_dump(mode="json") for ref in data.evidence_set],
        "findings": [finding.model_dump(mode="json") for finding in data.findings],
    }
    await repo.set_report(data.dispute_id, values, event.time)


async def record_deadline(session: AsyncSession, event: Envelope[DeadlineScheduledV1]) -> None:
    repo = SubmitRepository(session)
    if await repo.case(event.data.dispute_id, lock=True) is None:
        raise Deferred(f"no case {event.data.dispute_id} yet")
    await repo.set_deadline(event.data.dispute_id, event.data.due_at, event.time)


def facts_of(case: Row[Any]) -> CaseFacts:
    return CaseFacts(
        dispute_id=case.dispute_id,
        seller_id=case.seller_id,
        order_id=case.order_id,
        amount=Money(value=case.amount_value, currency=case.amount_currency),
        reason_code=case.reason_code,
        closed=case.closed,
    )


def report_of(case: Row[Any]) -> Report | None:
    if case.report_id is None:
        return None
    return Report(
        report_id=case.report_id,
        status=case.report_status,
        evidence_set=tuple(EvidenceRef.model_validate(ref) for ref in case.evidence_set),
        findings=tuple(Finding.model_validate(f) for f in case.findings),
    )
