"""Use cases of the ingest service on one session: sellers and their signed dispute notices.

Never commits (the request's scope does) and raises domain errors (errors.py), never HTTP ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest import signing
from services.ingest.cases import SOURCE, apply_seller_rule, case_values, is_decided, status_values, updated_fields
from services.ingest.domain.reason_codes import reason_from_network_code
from services.ingest.domain.risk import BuyerDispute, RiskRule, assess
from services.ingest.domain.rules import AutoAcceptRule, AutoAction
from services.ingest.domain.stats import Tally, summarise
from services.ingest.domain.status import CaseStatus, advance
from services.ingest.errors import BuyerNotFound, MalformedJson, SellerExists, SellerNotFound
from services.ingest.handlers import HANDLERS
from services.ingest.importing import ImportResult, import_csv
from services.ingest.repository import IngestRepository
from services.ingest.schemas import (
    BreakdownOut,
    BuyerDisputeOut,
    BuyerRiskOut,
    ClosedNotice,
    DisputeResult,
    Notice,
    NoticeAnswer,
    OpenedDispute,
    OpenedNotice,
    SecretRotated,
    SellerCreate,
    SellerCreated,
    SellerOut,
    SellerRules,
    StatsOut,
    UpdatedDispute,
    UpdatedNotice,
)
from services.ingest.secretbox import SecretBox, new_webhook_secret
from shared.contracts import DisputeChange, DisputeReceivedV1, DisputeUpdatedV1, Money, ReasonCode, new_event
from shared.web.auth import Role, mint_token

_notice = TypeAdapter(Notice)

# --------------------------------------------------------------------------- sellers


async def onboard_seller(
    session: AsyncSession, body: SellerCreate, *, box: SecretBox, auth_secret: str, token_ttl: timedelta, now: datetime
) -> SellerCreated:
    """A new seller with its token and first webhook secret (both shown only in this answer)."""
    repo = IngestRepository(session)
    row = await repo.insert_seller(body.seller_id, body.name, body.contact)
    if row is None:
        raise SellerExists("A seller with this id is already onboarded.", seller_id=body.seller_id)
    secret = new_webhook_secret()
    await repo.add_secret(body.seller_id, box.seal(secret))
    token = mint_token(auth_secret, Role.seller, body.seller_id, ttl=token_ttl, now=now)
    return SellerCreated(
        **SellerOut.model_validate(row, from_attributes=True).model_dump(), token=token, webhook_secret=secret
    )


async def get_seller(session: AsyncSession, seller_id: str) -> SellerOut:
    row = await IngestRepository(session).seller(seller_id)
    if row is None:
        raise SellerNotFound("No seller with this id.", seller_id=seller_id)
    return SellerOut.model_validate(row, from_attributes=True)


async def list_sellers(session: AsyncSession, *, after: str | None, limit: int) -> tuple[list[SellerOut], str | None]:
    rows = await IngestRepository(session).sellers(after=after, limit=limit + 1)
    items = [SellerOut.model_validate(row, from_attributes=True) for row in rows[:limit]]
    return items, items[-1].seller_id if len(rows) > limit else None


async def rotate_secret(
    session: AsyncSession, seller_id: str, *, box: SecretBox, grace: timedelta, now: datetime
) -> SecretRotated:
    """A new current secret; the previous one keeps verifying until now + grace."""
    repo = IngestRepository(session)
    if await repo.lock_seller(seller_id) is None:  # one rotation at a time per seller
        raise SellerNotFound("No seller with this id.", seller_id=seller_id)
    expires_at = now + grace
    await repo.expire_current_secrets(seller_id, expires_at)
    secret = new_webhook_secret()
    await repo.add_secret(seller_id, box.seal(secret))
    return SecretRotated(seller_id=seller_id, webhook_secret=secret, previous_expires_at=expires_at)


async def get_rules(session: AsyncSession, seller_id: str) -> SellerRules:
    row = await IngestRepository(session).seller(seller_id)
    if row is None:
        raise SellerNotFound("No seller with this id.", seller_id=seller_id)
    return SellerRules.model_validate(row.rules or {})


async def put_rules(session: AsyncSession, seller_id: str, rules: SellerRules) -> SellerRules:
    """Replace the seller's rules; they apply to disputes that arrive from now on."""
    if not await IngestRepository(session).set_rules(seller_id, rules.model_dump(mode="json")):
        raise SellerNotFound("No seller with this id.", seller_id=seller_id)
    return rules


# --------------------------------------------------------------------------- buyer risk


async def buyer_risk(
    session: AsyncSession, seller_id: str, buyer_id: str, *, rule: RiskRule, now: datetime
) -> BuyerRiskOut:
    """The buyer's disputes with this seller in the rule's window; 404 for a buyer this seller never saw."""
    rows = await IngestRepository(session).buyer_cases(seller_id, buyer_id)
    if not rows:
        raise BuyerNotFound("No dispute of this seller names this buyer.", buyer_id=buyer_id)
    disputes = [BuyerDispute(r.dispute_id, r.order_id, r.reason_code, r.notified_at, r.status) for r in rows]
    risk = assess(buyer_id, disputes, rule, now=now)
    return BuyerRiskOut(
        buyer_id=buyer_id,
        seller_id=seller_id,
        window_days=rule.window_days,
        window_start=risk.window_start,
        window_end=risk.window_end,
        min_disputes=rule.min_disputes,
        count=risk.count,
        disputes=[BuyerDisputeOut(**vars(d)) for d in risk.disputes],
        reasons=risk.reasons,
        outcomes=risk.outcomes,
        abnormal=risk.abnormal,
        note_ko=risk.note_ko,
        note_zh=risk.note_zh,
    )


# --------------------------------------------------------------------------- stats


async def stats(
    session: AsyncSession, seller_id: str | None, *, since: datetime | None, until: datetime | None
) -> StatsOut:
    rows, on_time, late = await IngestRepository(session).stats_tallies(seller_id, since=since, until=until)
    # The carrier is the one the case's latest tracking evidence named ("unknown" before any).
    result = summarise(
        (Tally(r.reason_code, r.month, r.carrier, r.status, r.count) for r in rows), on_time=on_time, late=late
    )
    return StatsOut(
        seller_id=seller_id,
        total=result.overall.total,
        win_rate=result.overall.win_rate,
        on_time_rate=result.on_time_rate,
        submitted_on_time=result.on_time,
        submitted_late=result.late,
        expired=result.expired,
        by_status=result.by_status,
        by_reason_code={k: BreakdownOut.of(v) for k, v in result.by_reason.items()},
        by_month={k: BreakdownOut.of(v) for k, v in result.by_month.items()},
        by_carrier={k: BreakdownOut.of(v) for k, v in result.by_carrier.items()},
    )


# --------------------------------------------------------------------------- CSV import


async def import_disputes(
    session: AsyncSession,
    seller_id: str,
    chunks: AsyncIterator[bytes],
    *,
    declared_charset: str | None,
    limit: int,
    now: datetime,
) -> ImportResult:
    """Import a seller's dispute list (importing.py), row by row; bad rows are reported, good ones kept."""
    repo = IngestRepository(session)
    seller = await repo.seller(seller_id)
    if seller is None:
        raise SellerNotFound("No seller with this id.", seller_id=seller_id)
    rules = SellerRules.model_validate(seller.rules or {})
    auto = rules.auto_accept.rule() if rules.auto_accept is not None else None
    return await import_csv(
        repo,
        seller_id,
        chunks,
        declared_charset=declared_charset,
        limit=limit,
        auto=auto,
        language=rules.language,
        now=now,
    )


# --------------------------------------------------------------------------- notices


async def receive_notice(
    session: AsyncSession,
    seller_id: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    box: SecretBox,
    now: datetime,
) -> NoticeAnswer:
    """Verify, de-duplicate by webhook-id, then apply each dispute of the notice; `replayed` on a repeat."""
    repo = IngestRepository(session)
    webhook_id = signing.webhook_id(headers, now=now)  # headers first: a refused one costs no query
    # The receipt is claimed with the look-up (one round trip); a refused signature rolls it back.
    sealed, rules, first = await repo.webhook_context_and_claim(seller_id, webhook_id, now=now)
    secrets = [s for s in (box.open(each) for each in sealed) if s]
    signing.verify(secrets, headers, body, now=now)
    if not first:
        first = await repo.receipt_answer(seller_id, webhook_id) or {"notice_id": None, "results": []}
        return NoticeAnswer.model_validate({**first, "replayed": True})
    notice = parse_notice(body)
    receipt = _Receipt(seller_id, webhook_id)
    if isinstance(notice, OpenedNotice):
        seller_rules = SellerRules.model_validate(rules or {})
        auto = seller_rules.auto_accept.rule() if seller_rules.auto_accept is not None else None
        results = await _open(
            repo, seller_id, notice, auto=auto, language=seller_rules.language, now=now, receipt=receipt
        )
    elif isinstance(notice, ClosedNotice):
        results = [await _close(repo, seller_id, d.dispute_id, d.outcome, d.amount, now=now) for d in notice.disputes]
    else:
        results = [await _update(repo, seller_id, d, now=now) for d in notice.disputes]
    answer = NoticeAnswer(notice_id=notice.notice_id, results=results)
    answer_json = _answer_json(answer)
    if answer_json != receipt.written:  # not written with the case, or it turned out otherwise
        await repo.set_receipt_answer(seller_id, webhook_id, answer_json)
    return answer


@dataclass
class _Receipt:
    """A webhook-id's receipt, claimed by this transaction, and the answer written to it so far."""

    seller_id: str
    webhook_id: str
    written: str | None = None


def _answer_json(answer: NoticeAnswer) -> str:
    """What a repeat of the webhook-id gets back (with `replayed` set then)."""
    return answer.model_dump_json(exclude={"replayed"})


def parse_notice(body: bytes) -> OpenedNotice | UpdatedNotice | ClosedNotice:
    try:
        return _notice.validate_json(body)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise MalformedJson("The body is not valid UTF-8 JSON.") from None
        raise


def _error(dispute_id: str, code: str, detail: str) -> DisputeResult:
    return DisputeResult(dispute_id=dispute_id, result="error", code=code, detail=detail)


def _reason(reason_code: ReasonCode | None, raw: str | None) -> ReasonCode | None:
    return reason_code or reason_from_network_code(raw)


async def _open(
    repo: IngestRepository,
    seller_id: str,
    notice: OpenedNotice,
    *,
    auto: AutoAcceptRule | None,
    language: str,
    now: datetime,
    receipt: _Receipt,
) -> list[DisputeResult]:
    # A one-dispute notice's answer is known before its case statement runs, if the case is new:
    # it goes with that statement (a round trip less per webhook), and is rewritten at the end if not.
    single = receipt if len(notice.disputes) == 1 else None
    results: dict[int, DisputeResult] = {}
    seen: set[str] = set()
    # Insert in dispute-id order, so two notices sharing disputes never lock them in opposite orders.
    for index, dispute in sorted(enumerate(notice.disputes), key=lambda pair: pair[1].dispute_id):
        if dispute.dispute_id in seen:
            results[index] = DisputeResult(dispute_id=dispute.dispute_id, result="duplicate")
            continue
        seen.add(dispute.dispute_id)
        results[index] = await _open_one(
            repo, seller_id, notice, dispute, auto=auto, language=language, now=now, receipt=single
        )
    return [results[index] for index in range(len(notice.disputes))]


async def _open_one(
    repo: IngestRepository,
    seller_id: str,
    notice: OpenedNotice,
    dispute: OpenedDispute,
    *,
    auto: AutoAcceptRule | None,
    language: str,
    now: datetime,
    receipt: _Receipt | None = None,
) -> DisputeResult:
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
        created_result = DisputeResult(dispute_id=dispute.dispute_id, result="created", status=status.value)
        answer = _answer_json(NoticeAnswer(notice_id=notice.notice_id, results=[created_result]))
    created, parked = await repo.open_case(
        values, event, answer=(receipt.seller_id, receipt.webhook_id, answer) if receipt and answer else None
    )
    if created and receipt is not None:
        receipt.written = answer
    if not created:
        existing = await repo.case(dispute.dispute_id)
        if existing is not None and existing.seller_id != seller_id:
            return _error(dispute.dispute_id, "dispute_id_conflict", "This dispute id belongs to another case.")
        return DisputeResult(
            dispute_id=dispute.dispute_id, result="duplicate", status=existing.status if existing else None
        )
    if parked:  # facts that came before the case (the statement holds the dispute's parking lock)
        await HANDLERS.release_parked(repo.session, dispute.dispute_id)
    if await apply_seller_rule(repo, dispute.dispute_id, data.amount, auto, now=now) is AutoAction.accept:
        return DisputeResult(dispute_id=dispute.dispute_id, result="created", status=CaseStatus.accepted.value)
    return DisputeResult(dispute_id=dispute.dispute_id, result="created", status=CaseStatus.received.value)


async def _update(repo: IngestRepository, seller_id: str, dispute: UpdatedDispute, *, now: datetime) -> DisputeResult:
    case = await repo.case(dispute.dispute_id, lock=True)
    if case is None or case.seller_id != seller_id:
        return _error(dispute.dispute_id, "case_not_found", "No case of this seller has this dispute id.")
    if is_decided(case.status):
        return _error(dispute.dispute_id, "case_not_open", f"The case is already {case.status}.")
    if immutable := _immutable_changes(case, dispute):  # nothing of this dispute changes then
        names = ", ".join(immutable)
        return _error(dispute.dispute_id, "field_immutable", f"{names} cannot change once a dispute is opened.")
    changed: dict = {}
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
        return DisputeResult(dispute_id=dispute.dispute_id, result="unchanged", status=case.status)
    data = DisputeUpdatedV1(dispute_id=dispute.dispute_id, seller_id=seller_id, change=DisputeChange.updated, **changed)
    await _emit_update(repo, case, data, status=CaseStatus(case.status), now=now)
    return DisputeResult(dispute_id=dispute.dispute_id, result="updated", status=case.status)


IMMUTABLE = ("kind", "order_id", "buyer_id")


def _immutable_changes(case, dispute: UpdatedDispute) -> list[str]:
    """The immutable fields the update sends with another value than the case's (a field equal to it is fine)."""
    sent = {
        "kind": dispute.kind.value if dispute.kind else None,
        "order_id": dispute.order_id,
        "buyer_id": dispute.buyer_id,
    }
    return [name for name in IMMUTABLE if sent[name] is not None and sent[name] != getattr(case, name)]


async def _close(
    repo: IngestRepository, seller_id: str, dispute_id: str, outcome: str, amount, *, now: datetime
) -> DisputeResult:
    case = await repo.case(dispute_id, lock=True)
    if case is None or case.seller_id != seller_id:
        return _error(dispute_id, "case_not_found", "No case of this seller has this dispute id.")
    if is_decided(case.status):
        if case.status == outcome:
            return DisputeResult(dispute_id=dispute_id, result="unchanged", status=case.status)
        return _error(dispute_id, "case_not_open", f"The case is already {case.status}.")
    status = advance(CaseStatus(case.status), CaseStatus(outcome))
    money = Money(value=amount.value, currency=amount.currency) if amount is not None else None
    data = DisputeUpdatedV1(
        dispute_id=dispute_id,
        seller_id=seller_id,
        change=DisputeChange.closed,
        outcome=outcome,
        status=status.value,
        amount=money,
    )
    await _emit_update(repo, case, data, status=status, now=now)
    return DisputeResult(dispute_id=dispute_id, result="closed", status=status.value)


async def _emit_update(
    repo: IngestRepository, case, data: DisputeUpdatedV1, *, status: CaseStatus, now: datetime
) -> None:
    """Apply a `dispute.updated` to the locked case, record it, and queue it."""
    values = updated_fields(data)
    if status.value != case.status:
        values.update(status_values(status, now=now, due_at=case.due_at))
    event = new_event(data, source=SOURCE, seller_id=case.seller_id, time=now)
    await repo.update_case(case.dispute_id, values)
    await repo.add_timeline(case.dispute_id, event, status_before=case.status, status_after=status.value, applied=True)
    await repo.add_events(event)
