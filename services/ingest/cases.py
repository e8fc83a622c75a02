"""The case read model: one row per dispute kept from ingest's own writes and every consumed fact.

Status only moves forward (`domain.status.advance`); a fact that would move it back is still
recorded in the case's timeline, with `applied` false when it changed nothing. Each fact is
recorded once, by its event id, so the events ingest wrote itself (already in the timeline)
are no-ops when they come back from Kafka.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.rules import AutoAcceptRule, AutoAction
from services.ingest.domain.status import DECIDED, advance, can_accept, proposed_by, urgency
from services.ingest.errors import CaseNotFound, CaseNotOpen
from services.ingest.repository import CaseCursor, CaseFilter, IngestRepository
from shared.contracts import CaseStatus, DisputeChange, DisputeReceivedV1, DisputeUpdatedV1, Envelope, Money, new_event
from shared.cursor import decode_cursor, encode_cursor
from shared.kafka.handlers import Deferred
from shared.web.auth import Principal

FAR = datetime(9999, 12, 31, tzinfo=UTC)  # due_key of a case with no known deadline: after all others
SOURCE = "ingest"


def status_values(status: CaseStatus, *, now: datetime, due_at: datetime | None) -> dict[str, Any]:
    return {"status": status.value, "status_changed_at": now, "urgency": urgency(status), "due_key": due_at or FAR}


def case_values(data: DisputeReceivedV1, *, source: str, status: CaseStatus, now: datetime) -> dict[str, Any]:
    """The new row of a case from its `dispute.received` data."""
    respond_by = data.respond_by.isoformat() if data.respond_by is not None else None
    return {
        "dispute_id": data.dispute_id,
        "seller_id": data.seller_id,
        "notice_id": data.notice_id,
        "kind": data.kind.value,
        "order_id": data.order_id,
        "amount_value": Decimal(data.amount.value),
        "amount_currency": data.amount.currency,
        "reason_code": data.reason_code.value,
        "raw_reason_code": data.raw_reason_code,
        "reason_text": data.reason_text,
        "buyer_id": data.buyer_id,
        "notified_at": data.notified_at,
        "respond_by": respond_by,
        "source": source,
        **status_values(status, now=now, due_at=None),
    }


# --------------------------------------------------------------------------- facts from Kafka


async def record_event(session: AsyncSession, event: Envelope[Any]) -> None:
    """Apply one fact to its case (forward only) and add it to the timeline; a handler's body."""
    repo = IngestRepository(session)
    dispute_id = event.data.dispute_id
    if await repo.knows_event(event.id):
        return  # ingest wrote this event itself (the usual case for its own topics), or recorded it before
    case = await repo.case(dispute_id, lock=True)
    if case is None:
        if isinstance(event.data, DisputeReceivedV1):  # a case written elsewhere: rebuild it from the fact
            await repo.insert_case(case_values(event.data, source="event", status=CaseStatus.received, now=event.time))
            await repo.add_timeline(dispute_id, event, status_before=None, status_after="received", applied=True)
            return
        raise Deferred(f"no case {dispute_id} yet")
    current = CaseStatus(case.status)
    values, fresh = _facts(case, event)
    proposed = proposed_by(event.type, event.data.model_dump(mode="json")) if fresh else None
    status = advance(current, proposed) if proposed is not None else current
    if status is not current:
        values.update(status_values(status, now=event.time, due_at=values.get("due_at", case.due_at)))
    elif "due_at" in values:
        values["due_key"] = values["due_at"]
    if values:
        await repo.update_case(dispute_id, values)
    await repo.add_timeline(
        dispute_id, event, status_before=current.value, status_after=status.value, applied=bool(values)
    )


def _facts(case: Row[Any], event: Envelope[Any]) -> tuple[dict[str, Any], bool]:
    """Columns the event sets, and whether it is fresh (not older than what the case already has)."""
    data = event.data
    match event.type:
        case "evidence.validated":
            if case.report_at is not None and event.time < case.report_at:
                return {}, False  # an older report than the one shown
            blockers = [f.rule for f in data.findings if f.severity == "blocker"]
            warnings = [f.rule for f in data.findings if f.severity == "warning"]
            report = {
                "report_id": str(data.report_id),
                "status": data.status,
                "ruleset_version": data.ruleset_version,
                "checked_at": event.time.isoformat(),
                "blockers": len(blockers),
                "warnings": len(warnings),
                "rules": sorted(set(blockers + warnings)),
            }
            return {"report": report, "report_at": event.time}, True
        case "deadline.scheduled":
            if case.deadline_event_at is not None and event.time < case.deadline_event_at:
                return {}, False
            values = {
                "due_at": data.due_at,
                "business_days": data.business_days,
                "deadline_rule": data.rule,
                "deadline_event_at": event.time,
            }
            return values, True
        case "evidence.uploaded":
            tracking = dict(case.tracking_carriers or {})
            item = str(data.evidence_id)
            if data.carrier is not None and data.change == "added":
                return {"carrier": data.carrier, "tracking_carriers": {**tracking, item: data.carrier}}, True
            if data.change == "deleted" and item in tracking:  # `carrier` (the stats') stays as it was
                del tracking[item]
                return {"tracking_carriers": tracking}, True
            return {}, True
        case "case.submitted":
            return {"receipt_id": data.receipt_id, "submitted_at": data.submitted_at}, True
        case "verdict.returned":
            if is_decided(case.status):
                return {}, False  # decided already: a second verdict does not rewrite the first
            verdict = data.model_dump(mode="json", exclude={"dispute_id"})
            return {"verdict": verdict}, True
        case "dispute.updated":
            return updated_fields(data), True
    return {}, True


def updated_fields(data: DisputeUpdatedV1) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if data.respond_by is not None:
        values["respond_by"] = data.respond_by.isoformat()
    if data.amount is not None and data.change is not DisputeChange.closed:
        values.update(amount_value=Decimal(data.amount.value), amount_currency=data.amount.currency)
    for name in ("reason_code", "raw_reason_code", "reason_text"):
        if (value := getattr(data, name)) is not None:
            values[name] = str(value)
    if data.outcome is not None:
        amount = data.amount.model_dump() if data.amount is not None else None  # the amount decided
        values["verdict"] = {"outcome": data.outcome, "amount": amount, "decided_by": "notice"}
    return values


# --------------------------------------------------------------------------- HTTP use cases


async def get_case(session: AsyncSession, principal: Principal, dispute_id: str) -> tuple[Row[Any], list[Row[Any]]]:
    repo = IngestRepository(session)
    case = await repo.case(dispute_id)
    if case is None or not principal.can_see(case.seller_id):
        raise CaseNotFound("No case with this dispute id.", dispute_id=dispute_id)  # another seller's: 404 too
    return case, await repo.timeline(dispute_id)


async def list_cases(
    session: AsyncSession, where: CaseFilter, *, cursor: str | None, limit: int
) -> tuple[list[Row[Any]], str | None]:
    after = decode_cursor(cursor, int, datetime, str)  # the sort key: urgency, due_key, dispute_id
    rows = await IngestRepository(session).cases(
        where, after=CaseCursor(*after) if after is not None else None, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].urgency, rows[-1].due_key, rows[-1].dispute_id) if more else None


async def accept_case(session: AsyncSession, principal: Principal, dispute_id: str, *, now: datetime) -> Row[Any]:
    """The seller concedes: status `accepted`, and `dispute.updated` (change `accepted`) in the outbox."""
    repo = IngestRepository(session)
    case = await repo.case(dispute_id, lock=True)  # the lock keeps this case's events in order
    if case is None or not principal.can_see(case.seller_id):
        raise CaseNotFound("No case with this dispute id.", dispute_id=dispute_id)
    current = CaseStatus(case.status)
    if not can_accept(current):
        raise CaseNotOpen(f"A case in status {current.value} cannot be accepted.", status=current.value)
    await concede(repo, case, now=now)
    return await repo.existing_case(dispute_id)


async def concede(repo: IngestRepository, case: Row[Any], *, now: datetime) -> None:
    """Mark a locked, open case accepted and emit its `dispute.updated` (by hand or by a seller rule)."""
    event = new_event(
        DisputeUpdatedV1(
            dispute_id=case.dispute_id,
            seller_id=case.seller_id,
            change=DisputeChange.accepted,
            status=CaseStatus.accepted,
        ),
        source=SOURCE,
        seller_id=case.seller_id,
        time=now,
    )
    await repo.update_case(case.dispute_id, status_values(CaseStatus.accepted, now=now, due_at=case.due_at))
    await repo.add_timeline(
        case.dispute_id, event, status_before=case.status, status_after=CaseStatus.accepted.value, applied=True
    )
    await repo.add_events(event)


async def apply_seller_rule(
    repo: IngestRepository, dispute_id: str, amount: Money, rule: AutoAcceptRule | None, *, now: datetime
) -> AutoAction | None:
    """A new case's seller rule: conceded (after its `dispute.received`) or flagged; None when it does not apply."""
    action = rule.action_for(Decimal(amount.value), amount.currency) if rule is not None else None
    if action is AutoAction.accept:
        await concede(repo, await repo.existing_case(dispute_id), now=now)
    elif action is AutoAction.flag:
        await repo.update_case(dispute_id, {"flagged": True})
    return action


def is_decided(status: str) -> bool:
    return CaseStatus(status) in DECIDED
