import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from services.ingest.domain.fees import (
    KOREAN_CARRIERS,
    CaseActivity,
    FeeError,
    Logistics,
    Plan,
    Tier,
    build_statement,
    case_logistics,
)

PRO = Plan(
    tier=Tier.pro,
    base_fee=D("999"),
    case_fee_domestic=D("80"),
    case_fee_international=D("150"),
    commission_rate=D("0.04"),
    commission_cap=D("2000"),
)
RATES = {"KRW": D("0.0052"), "USD": D("7.12")}


def test_statement_matches_figures_worked_out_by_hand():
    cases = [
        CaseActivity("CD-1", Logistics.domestic, submitted_in_month=True),
        CaseActivity(
            "CD-2", Logistics.international, submitted_in_month=True, won_value=D("45000"), won_currency="KRW"
        ),
        # Won this month, submitted last month: commission only.
        CaseActivity("CD-3", Logistics.domestic, submitted_in_month=False, won_value=D("12345678"), won_currency="KRW"),
        CaseActivity("CD-4", Logistics.domestic, submitted_in_month=False, won_value=D("10.55"), won_currency="USD"),
    ]
    statement = build_statement("2026-10", PRO, cases, RATES)
    got = [(line.kind, line.dispute_id, line.amount, line.capped) for line in statement.lines]
    assert got == [
        ("base_fee", None, D("999.00"), False),
        ("case_fee", "CD-1", D("80.00"), False),
        ("case_fee", "CD-2", D("150.00"), False),
        # 45000 KRW x 0.0052 = 234 CNY; 4 % = 9.36
        ("commission", "CD-2", D("9.36"), False),
        # 12,345,678 KRW x 0.0052 = 64,197.5256 CNY; 4 % = 2,567.90 > cap 2,000
        ("commission", "CD-3", D("2000.00"), True),
        # 10.55 USD x 7.12 = 75.116 CNY; 4 % = 3.00464 -> 3.00
        ("commission", "CD-4", D("3.00"), False),
    ]
    assert statement.total == D("3241.36")
    assert all(isinstance(line.amount, D) for line in statement.lines)


def test_a_month_without_the_rate_of_a_won_currency_is_refused():
    case = CaseActivity("CD-1", Logistics.domestic, submitted_in_month=False, won_value=D("100"), won_currency="JPY")
    with pytest.raises(FeeError) as refused:
        build_statement("2026-10", PRO, [case], RATES)
    assert refused.value.code == "exchange_rate_missing"


def test_half_cents_round_up():
    plan = Plan(Tier.lite, D("0.005"), D("80"), D("150"), D("0.03"), D("2000"))
    assert build_statement("2026-10", plan, [], {}).lines[0].amount == D("0.01")


@pytest.mark.parametrize("rate", [D("0.02"), D("0.051"), D("-0.04")])
def test_commission_outside_three_to_five_percent_is_refused(rate):
    with pytest.raises(FeeError):
        Plan(Tier.pro, D("1"), D("80"), D("150"), rate, D("2000"))


@pytest.mark.parametrize(
    ("carriers", "default", "expected"),
    [
        (["cj"], Logistics.international, Logistics.domestic),  # one Korean carrier end to end
        (["cj", "epost", "coupang"], Logistics.international, Logistics.domestic),  # all Korean
        (["zto", "cj"], Logistics.domestic, Logistics.international),  # a Chinese first leg, then CJ
        (["sf"], Logistics.domestic, Logistics.international),
        (["taobao"], Logistics.domestic, Logistics.international),  # a marketplace waybill
        (["some-new-forwarder"], Logistics.domestic, Logistics.international),  # not known as Korean
        ([], Logistics.domestic, Logistics.domestic),  # nothing known: the plan's route
        ([], Logistics.international, Logistics.international),
        (["", "  "], Logistics.domestic, Logistics.domestic),
        ([" CJ "], Logistics.international, Logistics.domestic),
    ],
)
def test_a_cases_logistics_follow_the_carriers_of_its_tracking_evidence(carriers, default, expected):
    assert case_logistics(carriers, default) is expected


def test_every_korean_last_mile_carrier_of_the_evidence_ruleset_counts_as_domestic():
    ruleset = Path(__file__).parents[3] / "services" / "evidence" / "checker" / "ruleset" / "carriers.json"
    data = json.loads(ruleset.read_text())
    assert {carrier["id"] for carrier in data["accepted"]} == KOREAN_CARRIERS
    assert not {carrier["id"] for carrier in data["rejected"]} & KOREAN_CARRIERS


def test_each_case_fee_follows_its_own_logistics():
    cases = [
        CaseActivity("CD-1", case_logistics(["cj"], Logistics.international), submitted_in_month=True),
        CaseActivity("CD-2", case_logistics(["yto", "hanjin"], Logistics.domestic), submitted_in_month=True),
        CaseActivity("CD-3", case_logistics([], Logistics.domestic), submitted_in_month=True),
    ]
    lines = build_statement("2026-10", PRO, cases, RATES).lines[1:]
    assert [(line.dispute_id, line.amount, line.description) for line in lines] == [
        ("CD-1", D("80.00"), "case fee (domestic)"),
        ("CD-2", D("150.00"), "case fee (international)"),
        ("CD-3", D("80.00"), "case fee (domestic)"),
    ]
