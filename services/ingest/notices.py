"""Use case of the signed webhook: a seller's dispute notice, verified, de-duplicated by its
`webhook-id`, and each of its disputes opened, updated or closed.

Never commits (the request's scope does); returns a `NoticeOutcome`, which `api.py` maps to its
schema, and raises domain errors (errors.py), never HTTP ones. The answer a repeat of the
`webhook-id` gets is this outcome as stored in the receipt (`answer_json`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import models, signing
from services.ingest.cases import SOURCE, apply_seller_rule, case_values, is_decided, status_values, updated_fields
from services.ingest.context import IngestContext
from services.ingest.domain.reason_codes import reason_from_network_code
from services.ingest.domain.rules import AutoAcceptRule, AutoAction
from services.ingest.domain.status import advance
from services.ingest.errors import MalformedJson
from services.ingest.repository import IngestRepository
from services.ingest.schemas import (
    ClosedNotice,
    MoneyIn,
    Notice,
    OpenedDispute,
    OpenedNotice,
    SellerRules,
    UpdatedDispute,
    UpdatedNotice,
)
from services.ingest.sellers import auto_accept_of
from shared.contracts import (
    CaseStatus,
    DisputeChange,
    DisputeReceivedV1,
    DisputeUpdatedV1,
    Language,
    Money,
    Outcome,
    ReasonCode,
    new_event,
)
from shared.kafka.handlers import release_parked

_ANSWER_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_notice: TypeAdapter[OpenedNotice | UpdatedNotice | ClosedNotice] = TypeAdapter(Notice)

Result = Literal["created", "duplicate", "updated", "unchanged", "closed", "accepted", "error"]


@dataclass(frozen=True)
class DisputeOutcome:
    """What became of one dispute of a notice."""

    dispute_id: str
    result: Result
    status: str | None = None
    code: str | None = None  # of an error
    detail: str | None = None


@dataclass(frozen=True)
class NoticeOutcome:
    notice_id: str | None
    results: list[DisputeOutcome] = field(default_factory=list)
    replayed: bool = False  # a repeated webhook-id: nothing changed, this is the first answer

    def answer_json(self) -> str:
        """What a repeat of the webhook-id gets back (with `replayed` set then)."""
        # On every webhook: plain dicts (`asdict` deep-copies each field) and one encoder built once.
        results = [vars(result) for result in self.results]  # flat, frozen, no slots: its fields
        return _ANSWER_ENCODER.encode({"notice_id": self.notice_id, "results": results})

    @classmethod
    def replay_of(cls, stored: Mapping[str, Any] | None) -> NoticeOutcome:
        """The first answer, as its receipt keeps it (`answer_json`), given again."""
        stored = stored or {"notice_id": None, "results": []}
        results = [DisputeOutcome(**result) for result in stored["results"]]
        return cls(notice_id=stored["notice_id"], results=results, replayed=True)


async def receive_notice(
    session: AsyncSession,
    seller_id: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    ctx: IngestContext,
) -> NoticeOutcome:
    """Verify, de-duplicate by webhook-id, then apply each dispute of the notice; `replayed` on a repeat.

    The time is `ctx.clock`'s, the seller's secrets are opened with `ctx.secret_box`, and events
    parked before their case are replayed with `ctx` (the handlers' context)."""
    now, box = ctx.clock.now(), ctx.secret_box
    repo = IngestRepository(session)
    tolerance_s = ctx.settings.webhook_tolerance_s
    webhook_id = signing.webhook_id(headers, now=now, tolerance_s=tolerance_s)  # headers first: no query if refused
    # The receipt is claimed with the look-up (one round trip); a refused signature rolls it back.
    sealed, rules, first = await repo.webhook_context_and_claim(seller_id, webhook_id, now=now)
    secrets = [s for s in (box.open(each) for each in sealed) if s]
    signing.verify(secrets, headers, body, now=now, tolerance_s=tolerance_s)
    if not first:
        return NoticeOutcome.replay_of(await repo.receipt_answer(seller_id, webhook_id))
    notice = parse_notice(body)
    receipt = _Receipt(seller_id, webhook_id)
    if isinstance(notice, OpenedNotice):
        seller_rules = SellerRules.model_validate(rules or {})
        auto = auto_accept_of(seller_rules)
        results = await _open(
            repo, seller_id, notice, auto=auto, language=seller_rules.language, now=now, receipt=receipt, ctx=ctx
        )
    elif isinstance(notice, ClosedNotice):
        results = [await _close(repo, seller_id, d.dispute_id, d.outcome, d.amount, now=now) for d in notice.disputes]
    else:
        results = [await _update(repo, seller_id, d, now=now) for d in notice.disputes]
    answer = NoticeOutcome(notice_id=notice.notice_id, results=results)
    if answer != receipt.written:  # not written with the case, or it turned out otherwise
        await repo.set_receipt_answer(seller_id, webhook_id, answer.answer_json())
    return answer


@dataclass
class _Receipt:
    """A webhook-id's receipt, claimed by this transaction, and the answer written to it so far."""

    seller_id: str
    webhook_id: str
    written: NoticeOutcome | None = None  # compared, not re-encoded: the common case writes nothing more


def parse_notice(body: bytes) -> OpenedNotice | UpdatedNotice | ClosedNotice:
    try:
        return _notice.validate_json(body)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise MalformedJson("The body is not valid UTF-8 JSON.") from None
        raise


def _error(dispute_id: str, code: str, detail: str) -> DisputeOutcome:
    return DisputeOutcome(dispute_id=dispute_id, result="error", code=code, detail=detail)


def _reason(reason_code: ReasonCode | None, raw: str | None) -> ReasonCode | None:
    return reason_code or reason_from_network_code(raw)


async def _open(
    repo: IngestRepository,
    seller_id: str,
    notice: OpenedNotice,
    *,
    auto: AutoAcceptRule | None,
    language: Language,
    now: datetime,
    receipt: _Receipt,
    ctx: IngestContext,
) -> list[DisputeOutcome]:
    # A one-dispute notice's answer is known before its case statement runs, if the case is new:
    # it goes with that statement (a round trip less per webhook), and is rewritten at the end if not.
    single = receipt if len(notice.disputes) == 1 else None
    results: dict[int, DisputeOutcome] = {}
    seen: set[str] = set()
    # Insert in dispute-id order, so two notices sharing disputes never lock them in opposite orders.
    for index, dispute in sorted(enumerate(notice.disputes), key=lambda pair: pair[1].dispute_id):
        if dispute.dispute_id in seen:
            results[index] = DisputeOutcome(dispute_id=dispute.dispute_id, result="duplicate")
            continue
        seen.add(dispute.dispute_id)
        results[index] = await _open_one(
            repo, seller_id, notice, dispute, auto=auto, language=language, now=now, receipt=single, ctx=ctx
        )
    return [results[index] for index in range(len(notice.disputes))]


async def _open_one(
    repo: IngestRepository,
    seller_id: str,
    notice: OpenedNotice,
    dispute: OpenedDispute,
    *,
    auto: AutoAcceptRule | None,
    language: Language,
    now: datetime,
    ctx: IngestContext,
    receipt: _Receipt | None = None,
) -> DisputeOutcome:
    reason = _reason(dispute.reason_code, dispute.raw_reason_code)
    if reason is None:
        if dispute.raw_reason_code:
            return _error(
                dispute.dispute_id, "unknown_reason_code", "raw_reason_code is not a Visa or Mastercard code we map."
            )
        return _error(dispute.dispute_id, "reason_code_missing", "Send reason_code or raw_reason_code.")
    data = DisputeReceivedV1(
        dispute_id=dispute.dispute_id,
        seller_id=seller_id,
        notice_id=notice.notice_id,
        kind=dispute.kind,
        order_id=dispute.order_id,
        amount=Money(value=dispute.amount.value, currency=dispute.amount.currency),
        reason_code=reason,
        raw_reason_code=dispute.raw_reason_code,
        reason_text=dispute.reason_text,
        buyer_id=dispute.buyer_id,
        notified_at=notice.notified_at,
        respond_by=dispute.respond_by,
        language=language,  # the seller's default when the dispute arrived (README, Decisions)
    )
    event = new_event(data, source=SOURCE, seller_id=seller_id, time=now)
    values = case_values(data, source="webhook", status=CaseStatus.received, now=now)
    # The case, its timeline row and its event in the outbox in one statement; all but the case only if it is new.
    answer = None
    if receipt is not None:  # the notice's answer if this case is created (see `_open`)
        action = auto.action_for(Decimal(data.amount.value), data.amount.currency) if auto is not None else None
        status = CaseStatus.accepted if action is AutoAction.accept else CaseStatus.received
        created_result = DisputeOutcome(dispute_id=dispute.dispute_id, result="created", status=status.value)
        answer = NoticeOutcome(notice_id=notice.notice_id, results=[created_result])
    created, parked = await repo.open_case(
        values,
        event,
        answer=(receipt.seller_id, receipt.webhook_id, answer.answer_json()) if receipt and answer else None,
    )
    if created and receipt is not None:
        receipt.written = answer
    if not created:
        existing = await repo.case(dispute.dispute_id)
        if existing is not None and existing.seller_id != seller_id:
            return _error(dispute.dispute_id, "dispute_id_conflict", "This dispute id belongs to another case.")
        return DisputeOutcome(
            dispute_id=dispute.dispute_id, result="duplicate", status=existing.status if existing else None
        )
    if parked:  # facts that came before the case (the statement holds the dispute's parking lock)
        await release_parked(repo.session, models.parked_events_table, dispute.dispute_id, ctx)
    if await apply_seller_rule(repo, dispute.dispute_id, data.amount, auto, now=now) is AutoAction.accept:
        return DisputeOutcome(dispute_id=dispute.dispute_id, result="created", status=CaseStatus.accepted.value)
    return DisputeOutcome(dispute_id=dispute.dispute_id, result="created", status=CaseStatus.received.value)


async def _update(repo: IngestRepository, seller_id: str, dispute: UpdatedDispute, *, now: datetime) -> DisputeOutcome:
    case = await repo.case(dispute.dispute_id, lock=True)
    if case is None or case.seller_id != seller_id:
        return _error(dispute.dispute_id, "case_not_found", "No case of this seller has this dispute id.")
    if is_decided(case.status):
        return _error(dispute.dispute_id, "case_not_open", f"The case is already {case.status}.")
    if immutable := _immutable_changes(case, dispute):  # nothing of this dispute changes then
        names = ", ".join(immutable)
        return _error(dispute.dispute_id, "field_immutable", f"{names} cannot change once a dispute is opened.")
    changed: dict[str, Any] = {}
    if dispute.respond_by is not None and dispute.respond_by.isoformat() != case.respond_by:
        changed["respond_by"] = dispute.respond_by
    if dispute.amount is not None and (
        Decimal(dispute.amount.value) != case.amount_value or dispute.amount.currency != case.amount_currency
    ):
        changed["amount"] = Money(value=dispute.amount.value, currency=dispute.amount.currency)
    if dispute.reason_code is not None or dispute.raw_reason_code is not None:
        reason = _reason(dispute.reason_code, dispute.raw_reason_code)
        if reason is None:
            return _error(dispute.dispute_id, "unknown_reason_code", "raw_reason_code is not a code we map.")
        if reason.value != case.reason_code:
            changed["reason_code"] = reason
        if dispute.raw_reason_code is not None and dispute.raw_reason_code != case.raw_reason_code:
            changed["raw_reason_code"] = dispute.raw_reason_code
    if dispute.reason_text is not None and dispute.reason_text != case.reason_text:
        changed["reason_text"] = dispute.reason_text
    if not changed:
        return DisputeOutcome(dispute_id=dispute.dispute_id, result="unchanged", status=case.status)
    data = DisputeUpdatedV1(dispute_id=dispute.dispute_id, seller_id=seller_id, change=DisputeChange.updated, **changed)
    await _emit_update(repo, case, data, status=CaseStatus(case.status), now=now)
    return DisputeOutcome(dispute_id=dispute.dispute_id, result="updated", status=case.status)


IMMUTABLE = ("kind", "order_id", "buyer_id")


def _immutable_changes(case: Row[Any], dispute: UpdatedDispute) -> list[str]:
    """The immutable fields the update sends with another value than the case's (a field equal to it is fine)."""
    sent = {
        "kind": dispute.kind.value if dispute.kind else None,
        "order_id": dispute.order_id,
        "buyer_id": dispute.buyer_id,
    }
    return [name for name in IMMUTABLE if sent[name] is not None and sent[name] != getattr(case, name)]


async def _close(
    repo: IngestRepository,
    seller_id: str,
    dispute_id: str,
    outcome: Outcome,
    amount: MoneyIn | None,
    *,
    now: datetime,
) -> DisputeOutcome:
    case = await repo.case(dispute_id, lock=True)
    if case is None or case.seller_id != seller_id:
        return _error(dispute_id, "case_not_found", "No case of this seller has this dispute id.")
    if is_decided(case.status):
        if case.status == outcome:
            return DisputeOutcome(dispute_id=dispute_id, result="unchanged", status=case.status)
        return _error(dispute_id, "case_not_open", f"The case is already {case.status}.")
    status = advance(CaseStatus(case.status), CaseStatus(outcome))
    money = Money(value=amount.value, currency=amount.currency) if amount is not None else None
    data = DisputeUpdatedV1(
        dispute_id=dispute_id,
        seller_id=seller_id,
        change=DisputeChange.closed,
        outcome=outcome,
        status=status,
        amount=money,
    )
    await _emit_update(repo, case, data, status=status, now=now)
    return DisputeOutcome(dispute_id=dispute_id, result="closed", status=status.value)


async def _emit_update(
    repo: IngestRepository, case: Row[Any], data: DisputeUpdatedV1, *, status: CaseStatus, now: datetime
) -> None:
    """Apply a `dispute.updated` to the locked case, record it, and queue it."""
    values = updated_fields(data)
    if status.value != case.status:
        values.update(status_values(status, now=now, due_at=case.due_at))
    event = new_event(data, source=SOURCE, seller_id=case.seller_id, time=now)
    await repo.update_case(case.dispute_id, values)
    await repo.add_timeline(case.dispute_id, event, status_before=case.status, status_after=status.value, applied=True)
    await repo.add_events(event)
