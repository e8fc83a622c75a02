"""Evidence follows `dispute.updated` (issue 15 item 6), delivered through the consumer's own
claim-and-handle step: an amended amount, reason code or order id reaches the checker's case
facts, makes the latest report stale and is checked again by the debounce worker; an accepted or
closed case takes no more uploads or deletes; an update that arrives before its dispute is parked.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.evidence import models, runs
from shared.contracts import DisputeReceivedV1, DisputeUpdatedV1, Money, new_event
from tests.integration.evidence.conftest import ORDER, Evidence, sample
from tests.integration.evidence.test_bad_input import png, refused

INVOICE = {"kind": "invoice", "order_id": ORDER, "amount": {"value": "32900", "currency": "KRW"}}


def updated(seller: str, dispute: str, change: str = "updated", **fields) -> object:
    data = DisputeUpdatedV1(dispute_id=dispute, seller_id=seller, change=change, **fields)
    return new_event(data, source="tests", seller_id=seller)


async def run_due_checks(evidence: Evidence) -> None:
    """What the debounce worker does on its next wake-up: run every check that is due."""
    while await runs.run_due_check(evidence.sessions, retry=timedelta(seconds=30), clock=evidence.context.clock):
        pass


async def report(evidence: Evidence, seller: str, dispute: str) -> dict:
    answer = await evidence.client.get(f"/v1/cases/{dispute}/report?lang=en", headers=evidence.seller_headers(seller))
    assert answer.status_code == 200, answer.text
    return answer.json()


def rules(body: dict) -> list[str]:
    return [f["rule"] for f in body["findings"]]


async def test_an_amended_amount_turns_amount_mismatch_on_and_back_off(evidence: Evidence):
    seller, dispute = await evidence.new_case()  # 32900 KRW
    assert (await evidence.upload(dispute, seller, INVOICE, as_json=True)).status_code == 201
    await run_due_checks(evidence)
    first = await report(evidence, seller, dispute)
    assert "amount_mismatch" not in rules(first) and first["stale"] is False

    amended = updated(seller, dispute, amount=Money(value="45000", currency="KRW"))
    assert await evidence.deliver_events(amended) == ["handled"]
    stale = await report(evidence, seller, dispute)
    assert stale["report_id"] == first["report_id"] and stale["stale"] is True  # the old verdict, marked stale
    await run_due_checks(evidence)
    rechecked = await report(evidence, seller, dispute)
    assert rechecked["report_id"] != first["report_id"] and rechecked["stale"] is False
    assert rechecked["trigger"] == "debounce" and "amount_mismatch" in rules(rechecked)
    mismatch = next(f for f in rechecked["findings"] if f["rule"] == "amount_mismatch")
    assert "45000" in mismatch["message"]

    back = updated(seller, dispute, amount=Money(value="32900", currency="KRW"))
    assert await evidence.deliver_events(back) == ["handled"]
    await run_due_checks(evidence)
    assert "amount_mismatch" not in rules(await report(evidence, seller, dispute))
    assert await evidence.outbox_types(dispute) == ["evidence.uploaded"] + ["evidence.validated"] * 3
    assert await evidence.deliver_events(back) == ["duplicate"]  # redelivered: nothing more


async def test_an_amended_order_id_and_reason_code_reach_the_checker(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    for name in ("tracking_cj_delivered", "pod_complete", "messages_coupang"):
        assert (await evidence.upload(dispute, seller, sample(name), as_json=True)).status_code == 201
    await run_due_checks(evidence)
    assert (await report(evidence, seller, dispute))["status"] == "ready"

    await evidence.deliver_events(updated(seller, dispute, order_id="3000555566667", reason_code="DUPLICATE_CHARGE"))
    assert (await report(evidence, seller, dispute))["stale"] is True
    await run_due_checks(evidence)
    body = await report(evidence, seller, dispute)
    assert body["reason_code"] == "DUPLICATE_CHARGE" and body["status"] == "needs_fix"
    assert "order_mismatch" in rules(body) and "required_evidence_missing" in rules(body)
    t = models.tracking_index
    orders = await evidence.scalar(select(func.array_agg(t.c.order_id)).where(t.c.dispute_id == dispute))
    assert set(orders) == {"3000555566667"}  # the reuse index follows the case's order


async def test_an_update_that_changes_no_checked_fact_neither_stales_nor_checks(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    await evidence.upload(dispute, seller, INVOICE, as_json=True)
    await run_due_checks(evidence)
    same = updated(seller, dispute, amount=Money(value="32900", currency="KRW"), reason_text="미수령")
    later = updated(seller, dispute, respond_by=datetime(2026, 11, 20, tzinfo=UTC))
    assert await evidence.deliver_events(same, later) == ["handled", "handled"]
    assert (await report(evidence, seller, dispute))["stale"] is False
    c = models.cases
    assert await evidence.scalar(select(c.c.check_due_at).where(c.c.dispute_id == dispute)) is None


async def test_an_amendment_before_any_evidence_makes_no_report_of_its_own(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    await evidence.deliver_events(updated(seller, dispute, amount=Money(value="45000", currency="KRW")))
    await run_due_checks(evidence)
    answer = await evidence.client.get(f"/v1/cases/{dispute}/report", headers=evidence.seller_headers(seller))
    refused(answer, 404, "report_not_found")
    # The first upload is checked against the amended amount.
    await evidence.upload(dispute, seller, INVOICE, as_json=True)
    await run_due_checks(evidence)
    assert "amount_mismatch" in rules(await report(evidence, seller, dispute))


async def test_an_update_before_its_dispute_is_parked_then_applied_not_dead_lettered(evidence: Evidence):
    seller, dispute = "V-EARLY-UPD", f"CD-EU-{uuid.uuid4().hex[:10]}"
    early = updated(seller, dispute, amount=Money(value="45000", currency="KRW"))
    assert await evidence.deliver_events(early) == ["handled"]
    parked = models.parked_events_table
    assert await evidence.scalar(select(parked.c.dataschema).where(parked.c.dispute_id == dispute)) == (
        "dispute.updated/v1"
    )
    received = DisputeReceivedV1(
        dispute_id=dispute,
        seller_id=seller,
        notice_id="N-EU",
        kind="chargeback",
        order_id=ORDER,
        amount=Money(value="32900", currency="KRW"),
        reason_code="NOT_RECEIVED",
        notified_at=datetime(2026, 11, 2, tzinfo=UTC),
    )
    assert await evidence.deliver_events(new_event(received, source="tests", seller_id=seller)) == ["handled"]
    assert await evidence.scalar(select(parked.c.id).where(parked.c.dispute_id == dispute)) is None
    await evidence.upload(dispute, seller, {**INVOICE, "amount": {"value": "45000", "currency": "KRW"}}, as_json=True)
    await run_due_checks(evidence)
    assert "amount_mismatch" not in rules(await report(evidence, seller, dispute))  # the amended 45000 applied


async def test_a_close_that_arrives_before_its_dispute_is_parked_and_then_refuses_uploads(evidence: Evidence):
    seller, dispute = "V-EARLY-CLOSE", f"CD-EC-{uuid.uuid4().hex[:10]}"
    await evidence.deliver_events(updated(seller, dispute, "closed", outcome="won", status="won"))
    await evidence.new_case(seller, dispute_id=dispute)
    answer = await evidence.upload(dispute, seller, INVOICE, as_json=True)
    refused(answer, 409, "case_closed")


@pytest.mark.parametrize(
    "change, fields",
    [("accepted", {"status": "accepted"}), ("closed", {"outcome": "lost", "status": "lost"})],
)
async def test_an_accepted_or_closed_case_takes_no_more_uploads_or_deletes(evidence: Evidence, change, fields):
    seller, dispute = await evidence.new_case()
    kept = (await evidence.upload(dispute, seller, INVOICE, as_json=True)).json()["evidence_id"]
    await evidence.deliver_events(updated(seller, dispute, change, **fields))
    before = await evidence.outbox_types(dispute)
    for answer in (
        await evidence.upload(dispute, seller, INVOICE, as_json=True),
        await evidence.upload(dispute, seller, {"kind": "product_photo"}, ("p.png", png(), "image/png")),
        await evidence.upload(dispute, None, INVOICE, as_json=True),  # operators too
        await evidence.client.delete(f"/v1/cases/{dispute}/evidence/{kept}", headers=evidence.seller_headers(seller)),
    ):
        refused(answer, 409, "case_closed")
        assert answer.json()["closed_as"] == change
    assert await evidence.item_count(dispute) == 1 and await evidence.outbox_types(dispute) == before
    assert evidence.staged_files() == []
    listed = await evidence.client.get(f"/v1/cases/{dispute}/evidence", headers=evidence.seller_headers(seller))
    assert [i["evidence_id"] for i in listed.json()["items"]] == [kept]  # still readable
    # A closed case's amount is what was decided, not an amendment: the facts stay.
    c = models.cases
    await evidence.deliver_events(
        updated(seller, dispute, "closed", outcome="partial", status="partial", amount=Money(value="1", currency="KRW"))
    )
    assert await evidence.scalar(select(c.c.amount_value).where(c.c.dispute_id == dispute)) == 32900
