"""The month's fee statement over HTTP, checked against figures worked out by hand."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from shared.contracts import CaseSubmittedV1, EvidenceUploadedV1, Money, VerdictReturnedV1
from tests.integration.ingest.conftest import Ingest, deliver_event, dispute, notice

KST = ZoneInfo("Asia/Seoul")
PLAN = {
    "tier": "pro",
    "base_fee": "990.00",
    "case_fee_domestic": "80",
    "case_fee_international": "150",
    "commission_rate": "0.04",
    "commission_cap": "2000",
    "currency": "CNY",
    "logistics": "international",
}


def kst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=KST)


async def submit(ingest: Ingest, dispute_id: str, when: str) -> None:
    at = kst(when)
    data = CaseSubmittedV1(
        dispute_id=dispute_id, receipt_id=f"R-{dispute_id}", adapter="http", submitted_at=at, package_sha256="d" * 64
    )
    await deliver_event(ingest, data, at=at)


async def verdict(
    ingest: Ingest, dispute_id: str, outcome: str, when: str, amount: tuple[str, str] | None = None
) -> None:
    money = Money(value=amount[0], currency=amount[1]) if amount else None
    await deliver_event(ingest, VerdictReturnedV1(dispute_id=dispute_id, outcome=outcome, amount=money), at=kst(when))


async def test_a_pro_plan_statement_matches_the_hand_worked_figures(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    other, _ = await ingest.onboard()
    base = dispute()["dispute_id"]
    ids = {name: f"{base}-{name}" for name in "ABCDEF"}  # lines are in dispute-id order
    await ingest.deliver(seller_id, secret, notice(*(dispute(i) for i in ids.values())))
    op = ingest.operator()
    assert (await ingest.client.put(f"/v1/sellers/{seller_id}/plan", json=PLAN, headers=op)).status_code == 200
    rates = {"plan_currency": "CNY", "rates": {"KRW": "0.0053"}}
    assert (await ingest.client.put("/v1/rates/2026-11", json=rates, headers=op)).status_code == 200

    await submit(ingest, ids["A"], "2026-11-05T10:00:00")
    await verdict(ingest, ids["A"], "won", "2026-11-20T10:00:00", ("45000", "KRW"))
    await submit(ingest, ids["B"], "2026-11-06T10:00:00")
    await verdict(ingest, ids["B"], "lost", "2026-11-21T10:00:00")
    await submit(ingest, ids["C"], "2026-10-28T10:00:00")  # last month: no case fee now
    await verdict(ingest, ids["C"], "won", "2026-11-03T10:00:00", ("12000000", "KRW"))
    await submit(ingest, ids["D"], "2026-11-07T10:00:00")
    await verdict(ingest, ids["D"], "won", "2026-11-22T10:00:00", ("500", "CNY"))
    await submit(ingest, ids["E"], "2026-12-01T00:30:00")  # still November in UTC, December in KST
    await submit(ingest, ids["F"], "2026-11-30T23:30:00")

    answer = await ingest.client.get(
        f"/v1/sellers/{seller_id}/statement", params={"month": "2026-11"}, headers=ingest.seller(seller_id)
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    lines = [
        (line["kind"], line["dispute_id"] and line["dispute_id"][-1], line["amount"], line["capped"])
        for line in body["lines"]
    ]
    assert lines == [
        ("base_fee", None, "990.00", False),
        ("case_fee", "A", "150.00", False),
        ("commission", "A", "9.54", False),  # 45,000 KRW x 0.0053 = 238.50 CNY x 4 %
        ("case_fee", "B", "150.00", False),
        ("commission", "C", "2000.00", True),  # 12,000,000 x 0.0053 = 63,600 x 4 % = 2,544 > cap 2,000
        ("case_fee", "D", "150.00", False),
        ("commission", "D", "20.00", False),  # 500 CNY x 4 %
        ("case_fee", "F", "150.00", False),
    ]
    assert Decimal(body["total"]) == Decimal("3619.54")  # 990 + 4 x 150 + 9.54 + 2000 + 20
    assert body["lines"][2]["rate"] == "0.0053" and body["lines"][2]["source_currency"] == "KRW"

    assert (
        await ingest.client.get(
            f"/v1/sellers/{seller_id}/statement", params={"month": "2026-11"}, headers=ingest.seller(other)
        )
    ).status_code == 404
    no_rate = await ingest.client.get(f"/v1/sellers/{seller_id}/statement", params={"month": "2026-12"}, headers=op)
    assert no_rate.status_code == 200  # December has only a case fee in CNY: no rate needed
    bad_month = await ingest.client.get(f"/v1/sellers/{seller_id}/statement", params={"month": "2026-13"}, headers=op)
    assert bad_month.status_code == 422


async def test_plans_are_set_by_operators_within_the_commission_range(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    url = f"/v1/sellers/{seller_id}/plan"
    assert (await ingest.client.get(url, headers=ingest.seller(seller_id))).json()["code"] == "plan_not_set"
    assert (await ingest.client.put(url, json=PLAN, headers=ingest.seller(seller_id))).status_code == 403
    high = await ingest.client.put(url, json=PLAN | {"commission_rate": "0.06"}, headers=ingest.operator())
    assert (high.status_code, high.json()["code"]) == (422, "invalid_plan")
    float_fee = await ingest.client.put(url, json=PLAN | {"base_fee": 990.0}, headers=ingest.operator())
    assert float_fee.status_code == 422

    await ingest.client.put(url, json=PLAN, headers=ingest.operator())
    item = dispute(amount={"value": "100", "currency": "USD"})
    await ingest.deliver(seller_id, secret, notice(item))
    await verdict(ingest, item["dispute_id"], "won", "2027-01-10T10:00:00")
    missing = await ingest.client.get(
        url.replace("plan", "statement"), params={"month": "2027-01"}, headers=ingest.operator()
    )
    assert (missing.status_code, missing.json()["code"]) == (409, "exchange_rate_missing")


async def tracking(ingest: Ingest, dispute_id: str, carrier: str, *, when: str = "2026-11-03T10:00:00") -> uuid.UUID:
    evidence_id = uuid.uuid4()
    data = EvidenceUploadedV1(dispute_id=dispute_id, evidence_id=evidence_id, kind="tracking_record", carrier=carrier)
    await deliver_event(ingest, data, at=kst(when))
    return evidence_id


async def test_each_case_fee_follows_the_carriers_of_its_own_tracking_evidence(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    base = dispute()["dispute_id"]
    ids = {name: f"{base}-{name}" for name in "ABCDE"}
    await ingest.deliver(seller_id, secret, notice(*(dispute(i) for i in ids.values())))
    plan = PLAN | {"logistics": "domestic"}  # the fallback for a case with no carrier known
    assert (await ingest.client.put(f"/v1/sellers/{seller_id}/plan", json=plan, headers=ingest.operator())).is_success

    await tracking(ingest, ids["A"], "cj")  # one Korean carrier: domestic
    await tracking(ingest, ids["B"], "zto")  # a Chinese first leg and the Korean last mile: international
    await tracking(ingest, ids["B"], "cj")
    await tracking(ingest, ids["D"], "sf")  # only a Chinese carrier: international
    wrong = await tracking(ingest, ids["E"], "taobao")  # a Taobao waybill uploaded by mistake, then deleted
    await tracking(ingest, ids["E"], "logen")
    removed = EvidenceUploadedV1(dispute_id=ids["E"], evidence_id=wrong, kind="tracking_record", change="deleted")
    await deliver_event(ingest, removed, at=kst("2026-11-04T10:00:00"))
    for name in "ABCDE":  # C has no tracking evidence: the plan's route
        await submit(ingest, ids[name], "2026-11-10T10:00:00")

    answer = await ingest.client.get(
        f"/v1/sellers/{seller_id}/statement", params={"month": "2026-11"}, headers=ingest.seller(seller_id)
    )
    assert answer.status_code == 200, answer.text
    fees = [(line["dispute_id"][-1], line["amount"], line["description"]) for line in answer.json()["lines"][1:]]
    assert fees == [
        ("A", "80.00", "case fee (domestic)"),
        ("B", "150.00", "case fee (international)"),
        ("C", "80.00", "case fee (domestic)"),
        ("D", "150.00", "case fee (international)"),
        ("E", "80.00", "case fee (domestic)"),
    ]
    assert answer.json()["total"] == "1530.00"  # 990 + 3 x 80 + 2 x 150
