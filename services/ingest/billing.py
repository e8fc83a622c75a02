"""Use cases of fee plans, the month's exchange rates and the fee statement (SPEC section 4).

What a case did in a month, as far as fees go: submitted in the month (a per-case fee, by the
case's own logistics route: `domain.fees.case_logistics` over the carriers its tracking evidence
named, the plan's `logistics` when none is known), and a verdict won (or partly won) in the month through the system
(a success commission on the amount won: the verdict's amount, else the case amount for a full
win). Imported history and disputes closed outside the system earn no commission. Months are
calendar months in KST.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.fees import CaseActivity, FeeError, build_statement, case_logistics
from services.ingest.errors import ExchangeRateMissing, InvalidPlan, PlanNotSet, SellerNotFound
from services.ingest.repository import IngestRepository
from services.ingest.schemas import PlanIn, RatesIn, RatesOut, StatementLineOut, StatementOut

KST = ZoneInfo("Asia/Seoul")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=KST)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=KST)
    return start, end


async def set_plan(session: AsyncSession, seller_id: str, body: PlanIn) -> PlanIn:
    try:
        body.plan()  # the domain's own checks (commission 3-5 %, no negative fee)
    except FeeError as exc:
        raise InvalidPlan(exc.detail) from None
    if not await IngestRepository(session).set_plan(seller_id, body.model_dump(mode="json")):
        raise SellerNotFound("No seller with this id.", seller_id=seller_id)
    return body


async def get_plan(session: AsyncSession, seller_id: str) -> PlanIn:
    row = await IngestRepository(session).seller(seller_id)
    if row is None:
        raise SellerNotFound("No seller with this id.", seller_id=seller_id)
    if row.plan is None:
        raise PlanNotSet("An operator has not set this seller's fee plan yet.", seller_id=seller_id)
    return PlanIn.model_validate(row.plan)


async def set_rates(session: AsyncSession, month: str, body: RatesIn) -> RatesOut:
    rates = {currency: Decimal(rate) for currency, rate in body.rates.items() if currency != body.plan_currency}
    await IngestRepository(session).set_rates(month, body.plan_currency, rates)
    return RatesOut(month=month, plan_currency=body.plan_currency, rates={c: str(r) for c, r in rates.items()})


async def get_rates(session: AsyncSession, month: str, plan_currency: str) -> RatesOut:
    rates = await IngestRepository(session).rates(month, plan_currency)
    return RatesOut(month=month, plan_currency=plan_currency, rates={c: _text(r) for c, r in rates.items()})


async def statement(session: AsyncSession, seller_id: str, month: str) -> StatementOut:
    repo = IngestRepository(session)
    body = await get_plan(session, seller_id)
    plan = body.plan()
    start, end = month_bounds(month)
    cases = [_activity(row, body, start, end) for row in await repo.month_activity(seller_id, start, end)]
    try:
        result = build_statement(month, plan, cases, await repo.rates(month, plan.currency))
    except FeeError as exc:
        raise ExchangeRateMissing(exc.detail, month=month) from None
    lines = [
        StatementLineOut(
            kind=line.kind,
            dispute_id=line.dispute_id,
            description=line.description,
            amount=str(line.amount),
            source_amount=_text(line.source_amount) if line.source_amount is not None else None,
            source_currency=line.source_currency,
            rate=_text(line.rate) if line.rate is not None else None,
            capped=line.capped,
        )
        for line in result.lines
    ]
    return StatementOut(
        seller_id=seller_id,
        month=month,
        tier=plan.tier.value,
        currency=plan.currency,
        lines=lines,
        total=str(result.total),
    )


def _activity(row: Row[Any], body: PlanIn, start: datetime, end: datetime) -> CaseActivity:
    submitted = row.submitted_at is not None and start <= row.submitted_at < end
    won_value = won_currency = None
    verdict = row.verdict or {}
    decided_here = row.status in ("won", "partial") and start <= row.status_changed_at < end
    if decided_here and verdict.get("decided_by") is None:  # a verdict returned through the system
        amount = verdict.get("amount")
        if amount:
            won_value, won_currency = Decimal(amount["value"]), amount["currency"]
        elif row.status == "won":
            won_value, won_currency = row.amount_value, row.amount_currency
    logistics = case_logistics((row.tracking_carriers or {}).values(), body.logistics)
    return CaseActivity(row.dispute_id, logistics, submitted, won_value, won_currency)


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")
