"""HTTP models of the ingest service (never Kafka events): every request model forbids unknown fields."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo

import pycountry
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import Row

from services.ingest.domain.fees import Logistics, Plan, Tier
from services.ingest.domain.rules import AutoAcceptRule, AutoAction
from services.ingest.domain.stats import Breakdown
from shared.contracts import DisputeKind, Language, Outcome, ReasonCode

KST = ZoneInfo("Asia/Seoul")
BEIJING = ZoneInfo("Asia/Shanghai")

# Ids we take from other systems: 1..64 printable characters, no spaces.
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"
_DECIMAL = re.compile(r"\d{1,15}(\.\d{1,4})?")


def _decimal_string(value: object) -> str:
    # A JSON number is refused too: floats are how amounts lose their cents.
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value) or Decimal(value) <= 0:
        raise PydanticCustomError("invalid_amount", 'the amount is a positive decimal string, e.g. "45000"')
    return value


def _iso_currency(value: str) -> str:
    if len(value) != 3 or not value.isupper() or pycountry.currencies.get(alpha_3=value) is None:
        raise PydanticCustomError("invalid_currency", "the currency is an ISO 4217 code, e.g. KRW, CNY, USD")
    return value


DecimalString = Annotated[str, BeforeValidator(_decimal_string)]


def _non_negative_decimal(value: object) -> str:
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise PydanticCustomError("invalid_amount", 'a non-negative decimal string, e.g. "990.00"')
    return value


NonNegativeDecimal = Annotated[str, BeforeValidator(_non_negative_decimal)]
# Years 2000-2999: month 0000-01 or 9999-12 made `datetime` raise (a 500 the fuzzer found), and no
# statement or rate table predates the service.
Month = Annotated[str, Field(pattern=r"^2\d{3}-(0[1-9]|1[0-2])$")]
Currency = Annotated[str, AfterValidator(_iso_currency)]


def _no_control_characters(value: str) -> str:
    # PostgreSQL text and jsonb refuse NUL; other C0 controls (but tab and newlines) are never meant.
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise PydanticCustomError("control_character", "control characters are not allowed")
    return value


# Free text of 1 to N characters, without control characters: one alias per length in use (a type
# checker takes an alias in an annotation, not a call that builds one).
_Clean = AfterValidator(_no_control_characters)
Text16 = Annotated[str, Field(min_length=1, max_length=16), _Clean]
Text200 = Annotated[str, Field(min_length=1, max_length=200), _Clean]
Text2000 = Annotated[str, Field(min_length=1, max_length=2000), _Clean]


class Inbound(BaseModel):
    """A request body: unknown fields refused, frozen (not Starlette's `Request`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MoneyIn(Inbound):
    value: DecimalString
    currency: Currency


# --------------------------------------------------------------------------- sellers


class SellerCreate(Inbound):
    seller_id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: Text200
    contact: Text200


class SellerOut(BaseModel):
    seller_id: str
    name: str
    contact: str
    created_at: datetime


class SellerCreated(SellerOut):
    token: str
    webhook_secret: str = Field(description="Shown once; keep it to sign webhooks.")


class SellerList(BaseModel):
    items: list[SellerOut]
    next_cursor: str | None = None


class SecretRotated(BaseModel):
    seller_id: str
    webhook_secret: str = Field(description="Shown once; the previous secret verifies until previous_expires_at.")
    previous_expires_at: datetime | None


# --------------------------------------------------------------------------- seller rules


class Carrier(StrEnum):
    """Korean last-mile carriers a seller may keep templates for."""

    cj = "cj"  # CJ대한통운
    logen = "logen"  # 로젠택배
    hanjin = "hanjin"  # 한진택배
    lotte = "lotte"  # 롯데택배
    epost = "epost"  # 우체국택배
    kgb = "kgb"  # KGB택배
    coupang = "coupang"  # Coupang Logistics (로켓배송)
    kdexp = "kdexp"  # 경동택배
    daesin = "daesin"  # 대신택배
    ilyang = "ilyang"  # 일양로지스


class AutoAccept(Inbound):
    below: MoneyIn  # disputes under this amount, in this currency
    mode: AutoAction = AutoAction.accept

    def rule(self) -> AutoAcceptRule:
        return AutoAcceptRule(Decimal(self.below.value), self.below.currency, self.mode)


class SellerRules(Inbound):
    auto_accept: AutoAccept | None = None
    language: Language = "zh"
    carrier_templates: Annotated[list[Carrier], Field(max_length=10)] = []

    @field_validator("carrier_templates")
    @classmethod
    def _unique(cls, value: list[Carrier]) -> list[Carrier]:
        if len(set(value)) != len(value):
            raise PydanticCustomError("duplicate_carrier", "each carrier is listed once")
        return value


# --------------------------------------------------------------------------- webhook notices


class OpenedDispute(Inbound):
    dispute_id: Id
    kind: DisputeKind
    order_id: Id
    amount: MoneyIn
    reason_code: ReasonCode | None = None
    raw_reason_code: Text16 | None = None
    reason_text: Text2000 | None = None
    buyer_id: Id | None = None
    respond_by: AwareDatetime | date | None = None


class UpdatedDispute(Inbound):
    """The dispute as an update sends it: the changed fields only, or the whole object (as providers
    send it). A field left out or null is not a change. `kind`, `order_id` and `buyer_id` may come
    along but never change (`field_immutable`)."""

    dispute_id: Id
    kind: DisputeKind | None = None
    order_id: Id | None = None
    buyer_id: Id | None = None
    amount: MoneyIn | None = None
    reason_code: ReasonCode | None = None
    raw_reason_code: Text16 | None = None
    reason_text: Text2000 | None = None
    respond_by: AwareDatetime | date | None = None


class ClosedDispute(Inbound):
    dispute_id: Id
    outcome: Outcome
    amount: MoneyIn | None = None


class _Notice(Inbound):
    notice_id: Id
    notified_at: AwareDatetime


class OpenedNotice(_Notice):
    event: Literal["dispute.opened"]
    disputes: Annotated[list[OpenedDispute], Field(min_length=1, max_length=100)]


class UpdatedNotice(_Notice):
    event: Literal["dispute.updated"]
    disputes: Annotated[list[UpdatedDispute], Field(min_length=1, max_length=100)]


class ClosedNotice(_Notice):
    event: Literal["dispute.closed"]
    disputes: Annotated[list[ClosedDispute], Field(min_length=1, max_length=100)]


Notice = Annotated[OpenedNotice | UpdatedNotice | ClosedNotice, Field(discriminator="event")]


class DisputeResult(BaseModel):
    dispute_id: str
    result: Literal["created", "duplicate", "updated", "unchanged", "closed", "accepted", "error"]
    status: str | None = None
    code: str | None = None
    detail: str | None = None


class NoticeAnswer(BaseModel):
    notice_id: str | None
    replayed: bool = False  # a repeated webhook-id: nothing changed, this is the first answer
    results: list[DisputeResult]


# --------------------------------------------------------------------------- CSV import


class ImportRow(BaseModel):
    line: int
    dispute_id: str | None
    result: Literal["created", "duplicate", "error"]
    code: str | None = None
    detail: str | None = None


class ImportAnswer(BaseModel):
    seller_id: str
    rows: int
    created: int
    duplicate: int
    errors: int
    results: list[ImportRow]


# --------------------------------------------------------------------------- cases


class Money(BaseModel):
    value: str
    currency: str


def money_of(value: Decimal, currency: str) -> Money:
    return Money(value=format(value.normalize(), "f"), currency=currency)


class Deadline(BaseModel):
    due_at_utc: datetime
    due_at_kst: datetime
    due_at_beijing: datetime
    business_days: int | None
    rule: str | None
    seconds_left: int  # negative once passed
    passed: bool

    @classmethod
    def of(cls, row: Row[Any], now: datetime) -> Deadline | None:
        if row.due_at is None:
            return None
        left = int((row.due_at - now).total_seconds())
        return cls(
            due_at_utc=row.due_at,
            due_at_kst=row.due_at.astimezone(KST),
            due_at_beijing=row.due_at.astimezone(BEIJING),
            business_days=row.business_days,
            rule=row.deadline_rule,
            seconds_left=left,
            passed=left < 0,
        )


class TimelineEntry(BaseModel):
    event_id: str
    type: str
    occurred_at: datetime
    recorded_at: datetime
    applied: bool
    status_before: str | None
    status_after: str | None
    summary: dict[str, Any]


class CaseOut(BaseModel):
    dispute_id: str
    seller_id: str
    notice_id: str
    kind: str
    order_id: str
    amount: Money
    reason_code: str
    raw_reason_code: str | None
    reason_text: str | None
    buyer_id: str | None
    notified_at: datetime
    respond_by: str | None
    source: str
    status: str
    status_changed_at: datetime
    flagged: bool
    deadline: Deadline | None
    report: dict[str, Any] | None
    receipt_id: str | None
    submitted_at: datetime | None
    verdict: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Row[Any], now: datetime, **extra: Any) -> Self:
        return cls(
            dispute_id=row.dispute_id,
            seller_id=row.seller_id,
            notice_id=row.notice_id,
            kind=row.kind,
            order_id=row.order_id,
            amount=money_of(row.amount_value, row.amount_currency),
            reason_code=row.reason_code,
            raw_reason_code=row.raw_reason_code,
            reason_text=row.reason_text,
            buyer_id=row.buyer_id,
            notified_at=row.notified_at,
            respond_by=row.respond_by,
            source=row.source,
            status=row.status,
            status_changed_at=row.status_changed_at,
            flagged=row.flagged,
            deadline=Deadline.of(row, now),
            report=row.report,
            receipt_id=row.receipt_id,
            submitted_at=row.submitted_at,
            verdict=row.verdict,
            created_at=row.created_at,
            updated_at=row.updated_at,
            **extra,
        )


class CaseDetail(CaseOut):
    timeline: list[TimelineEntry]


class CaseList(BaseModel):
    items: list[CaseOut]
    next_cursor: str | None = None


# --------------------------------------------------------------------------- buyer risk


class BuyerDisputeOut(BaseModel):
    dispute_id: str
    order_id: str
    reason_code: str
    notified_at: datetime
    status: str


class BuyerRiskOut(BaseModel):
    buyer_id: str
    seller_id: str
    window_days: int
    window_start: datetime
    window_end: datetime
    min_disputes: int
    count: int
    disputes: list[BuyerDisputeOut]
    reasons: dict[str, int]
    outcomes: dict[str, int]
    abnormal: bool
    note_ko: str | None
    note_zh: str | None


# --------------------------------------------------------------------------- stats


class BreakdownOut(BaseModel):
    total: int
    won: int
    lost: int
    partial: int
    accepted: int
    open: int
    win_rate: float | None

    @classmethod
    def of(cls, b: Breakdown) -> BreakdownOut:
        return cls(
            total=b.total,
            won=b.won,
            lost=b.lost,
            partial=b.partial,
            accepted=b.accepted,
            open=b.open,
            win_rate=b.win_rate,
        )


class StatsOut(BaseModel):
    seller_id: str | None
    total: int
    win_rate: float | None
    on_time_rate: float | None
    submitted_on_time: int
    submitted_late: int
    expired: int
    by_status: dict[str, int]
    by_reason_code: dict[str, BreakdownOut]
    by_month: dict[str, BreakdownOut]
    by_carrier: dict[str, BreakdownOut]


# --------------------------------------------------------------------------- fee plans, rates, statements


class PlanIn(Inbound):
    tier: Tier
    base_fee: NonNegativeDecimal
    case_fee_domestic: NonNegativeDecimal
    case_fee_international: NonNegativeDecimal
    commission_rate: NonNegativeDecimal  # 0.03 to 0.05
    commission_cap: NonNegativeDecimal  # per case, in the plan currency
    currency: Currency = "CNY"
    # The seller's usual route: the per-case fee of a case whose tracking evidence names no carrier.
    logistics: Logistics = Logistics.international

    def plan(self) -> Plan:
        return Plan(
            tier=self.tier,
            base_fee=Decimal(self.base_fee),
            case_fee_domestic=Decimal(self.case_fee_domestic),
            case_fee_international=Decimal(self.case_fee_international),
            commission_rate=Decimal(self.commission_rate),
            commission_cap=Decimal(self.commission_cap),
            currency=self.currency,
        )


class RatesIn(Inbound):
    plan_currency: Currency = "CNY"
    rates: Annotated[
        dict[Currency, DecimalString], Field(min_length=1, max_length=50)
    ]  # one unit = rate of plan currency


class RatesOut(BaseModel):
    month: str
    plan_currency: str
    rates: dict[str, str]


class StatementLineOut(BaseModel):
    kind: str
    dispute_id: str | None
    description: str
    amount: str
    source_amount: str | None = None
    source_currency: str | None = None
    rate: str | None = None
    capped: bool = False


class StatementOut(BaseModel):
    seller_id: str
    month: str
    tier: str
    currency: str
    lines: list[StatementLineOut]
    total: str
