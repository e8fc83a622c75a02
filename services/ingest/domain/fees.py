"""The month's fee statement (SPEC section 4): money is Decimal, never float.

- a base monthly fee by tier (Lite / Pro / Enterprise);
- a per-case fee by logistics complexity (one domestic carrier, or an international leg), for
  each case submitted in the month, decided per case by `case_logistics`: any carrier that is not
  a Korean last-mile carrier among the case's tracking evidence means an international leg; only
  Korean carriers, domestic; no carrier known, the plan's `logistics` (the seller's usual route);
- a success commission (3–5 %) of the amount won in the month, converted from the dispute's
  currency at the month's rate the operator set, capped per case.

Each line is rounded half-up to the plan currency's minor unit; the total is the sum of lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class Tier(StrEnum):
    lite = "lite"
    pro = "pro"
    enterprise = "enterprise"


class Logistics(StrEnum):
    domestic = "domestic"  # one Korean carrier end to end
    international = "international"  # an international leg before the Korean last mile


# The Korean last-mile carriers, by the canonical ids `evidence.uploaded` names (the evidence
# ruleset's accepted carriers). Any other id (a Chinese domestic or cross-border carrier, a
# marketplace waybill) is a leg outside Korea.
KOREAN_CARRIERS: frozenset[str] = frozenset(
    {
        "cj",  # CJ대한통운
        "logen",  # 로젠택배
        "hanjin",  # 한진택배
        "lotte",  # 롯데택배
        "epost",  # 우체국택배
        "kgb",  # KGB택배
        "coupang",  # Coupang Logistics (로켓배송)
        "kdexp",  # 경동택배
        "daesin",  # 대신택배
        "ilyang",  # 일양로지스
        "chunil",  # 천일택배
        "hapdong",  # 합동택배
        "cvsnet",  # CVSnet 편의점택배
    }
)


def case_logistics(carriers: Iterable[str], plan_default: Logistics) -> Logistics:
    """The logistics route of one case from the carriers its tracking evidence named.

    Any non-Korean carrier: international (the parcel crossed a border before the last mile);
    only Korean carriers: domestic; none known: the plan's default route.
    """
    known = {carrier.strip().lower() for carrier in carriers if carrier and carrier.strip()}
    if not known:
        return plan_default
    return Logistics.domestic if known <= KOREAN_CARRIERS else Logistics.international


class FeeError(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


CENT = Decimal("0.01")
MIN_COMMISSION, MAX_COMMISSION = Decimal("0.03"), Decimal("0.05")


@dataclass(frozen=True)
class Plan:
    tier: Tier
    base_fee: Decimal
    case_fee_domestic: Decimal
    case_fee_international: Decimal
    commission_rate: Decimal
    commission_cap: Decimal
    currency: str = "CNY"

    def __post_init__(self) -> None:
        if not MIN_COMMISSION <= self.commission_rate <= MAX_COMMISSION:
            raise FeeError("invalid_plan", "the success commission is between 3 % and 5 %")
        money = (self.base_fee, self.case_fee_domestic, self.case_fee_international, self.commission_cap)
        if any(value < 0 for value in money):
            raise FeeError("invalid_plan", "fees and the commission cap cannot be negative")


@dataclass(frozen=True)
class CaseActivity:
    """What one case did in the month, as far as fees go."""

    dispute_id: str
    logistics: Logistics
    submitted_in_month: bool
    won_value: Decimal | None = None  # amount won by a verdict in the month, in `won_currency`
    won_currency: str | None = None


@dataclass(frozen=True)
class StatementLine:
    kind: str  # base_fee | case_fee | commission
    dispute_id: str | None
    description: str
    amount: Decimal
    source_amount: Decimal | None = None
    source_currency: str | None = None
    rate: Decimal | None = None
    capped: bool = False


@dataclass(frozen=True)
class Statement:
    month: str
    tier: Tier
    currency: str
    lines: tuple[StatementLine, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def build_statement(month: str, plan: Plan, cases: Iterable[CaseActivity], rates: Mapping[str, Decimal]) -> Statement:
    """The statement of `month`; `rates[currency]` is the plan-currency value of one unit of it."""
    lines = [StatementLine("base_fee", None, f"{plan.tier.value} plan, {month}", _money(plan.base_fee))]
    for case in sorted(cases, key=lambda c: c.dispute_id):
        if case.submitted_in_month:
            fee = plan.case_fee_international if case.logistics is Logistics.international else plan.case_fee_domestic
            lines.append(StatementLine("case_fee", case.dispute_id, f"case fee ({case.logistics.value})", _money(fee)))
        if case.won_value is not None and case.won_value > 0:
            lines.append(_commission(case, plan, rates))
    return Statement(month, plan.tier, plan.currency, tuple(lines))


def _commission(case: CaseActivity, plan: Plan, rates: Mapping[str, Decimal]) -> StatementLine:
    currency = case.won_currency or plan.currency
    if currency == plan.currency:
        rate = Decimal("1")
    elif (found := rates.get(currency)) is not None:
        rate = found
    else:
        raise FeeError("exchange_rate_missing", f"no {currency}->{plan.currency} rate is set for this month")
    assert case.won_value is not None
    converted = case.won_value * rate
    commission = _money(converted * plan.commission_rate)
    capped = commission > plan.commission_cap
    return StatementLine(
        "commission",
        case.dispute_id,
        f"success commission {plan.commission_rate * 100:.1f}%" + (" (capped)" if capped else ""),
        _money(plan.commission_cap) if capped else commission,
        source_amount=case.won_value,
        source_currency=currency,
        rate=rate,
        capped=capped,
    )
