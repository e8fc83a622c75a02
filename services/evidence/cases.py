"""The cases evidence knows: what the checker needs of a dispute (`dispute.received`) and its
deadline (`deadline.scheduled`); and who may touch a case's evidence.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.evidence.errors import CaseNotFound
from services.evidence.repository import EvidenceRepository
from shared.contracts import CaseSubmittedV1, DeadlineScheduledV1, DisputeReceivedV1, Envelope
from shared.kafka.handlers import Deferred
from shared.web.auth import Principal


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
        }
    )


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


async def case_of(session: AsyncSession, principal: Principal, dispute_id: str, *, lock: bool = False) -> Row:
    """The case if `principal` may see it (its seller, or an operator); 404 otherwise, also for another seller's."""
    case = await EvidenceRepository(session).case(dispute_id, lock=lock)
    if case is None or not (principal.is_operator or principal.seller_id == case.seller_id):
        raise CaseNotFound("No case with this id.", dispute_id=dispute_id)
    return case


def uploader_of(principal: Principal) -> str:
    return "operator" if principal.is_operator else f"seller:{principal.seller_id}"
