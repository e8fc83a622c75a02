"""`dispute.updated` notices carrying the whole dispute object, as providers send them (SPEC section 4):
equal fields ignored, mutable ones applied and named in the event, immutable ones refused per dispute."""

from __future__ import annotations

import json

from sqlalchemy import select

from services.ingest import models
from tests.integration.ingest.conftest import Ingest, dispute, notice


async def updated_events(ingest: Ingest, dispute_id: str) -> list[dict]:
    t = models.outbox_table
    query = select(t.c.payload).where(t.c.key == dispute_id, t.c.topic == "dispute.updated").order_by(t.c.id)
    async with ingest.session() as session:
        return [json.loads(payload)["data"] for payload in (await session.execute(query)).scalars()]


async def show(ingest: Ingest, seller_id: str, dispute_id: str) -> dict:
    answer = await ingest.client.get(f"/v1/cases/{dispute_id}", headers=ingest.seller(seller_id))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def opened(ingest: Ingest, **fields) -> tuple[str, str, dict]:
    seller_id, secret = await ingest.onboard()
    item = dispute(**fields)
    answer = await ingest.deliver(seller_id, secret, notice(item))
    assert answer.json()["results"][0]["result"] == "created", answer.text
    return seller_id, secret, item


async def test_the_whole_object_unchanged_is_answered_unchanged_and_emits_nothing(ingest: Ingest):
    seller_id, secret, item = await opened(ingest, raw_reason_code="13.1", respond_by="2026-11-12")
    answer = await ingest.deliver(seller_id, secret, notice(item, event="dispute.updated"))
    assert answer.status_code == 202, answer.text
    assert answer.json()["results"][0] == {
        "dispute_id": item["dispute_id"],
        "result": "unchanged",
        "status": "received",
        "code": None,
        "detail": None,
    }
    assert await ingest.outbox_count(item["dispute_id"], "dispute.updated") == 0
    timeline = (await show(ingest, seller_id, item["dispute_id"]))["timeline"]
    assert [entry["type"] for entry in timeline] == ["dispute.received"]


async def test_mutable_fields_that_differ_are_applied_and_only_they_are_in_the_event(ingest: Ingest):
    seller_id, secret, item = await opened(ingest)
    whole = item | {"amount": {"value": "39000", "currency": "KRW"}, "respond_by": "2026-11-20"}
    answer = await ingest.deliver(seller_id, secret, notice(whole, event="dispute.updated"))
    assert answer.json()["results"][0]["result"] == "updated", answer.text
    [data] = await updated_events(ingest, item["dispute_id"])
    assert data["change"] == "updated"
    assert data["amount"] == {"value": "39000", "currency": "KRW"} and data["respond_by"] == "2026-11-20"
    for same in ("reason_code", "raw_reason_code", "reason_text", "order_id"):
        assert data[same] is None, same  # equal to the case: not a change, not in the event
    case = await show(ingest, seller_id, item["dispute_id"])
    assert case["amount"] == {"value": "39000", "currency": "KRW"} and case["respond_by"] == "2026-11-20"
    assert case["order_id"] == item["order_id"] and case["kind"] == "chargeback"

    reasons = {"reason_code": "DAMAGED", "raw_reason_code": "4853", "reason_text": "파손"}
    again = await ingest.deliver(seller_id, secret, notice(whole | reasons, event="dispute.updated"))
    assert again.json()["results"][0]["result"] == "updated"
    second = (await updated_events(ingest, item["dispute_id"]))[1]
    assert (second["reason_code"], second["raw_reason_code"], second["reason_text"]) == ("DAMAGED", "4853", "파손")
    assert second["amount"] is None and second["respond_by"] is None  # already the case's values


async def test_an_immutable_field_that_differs_is_that_disputes_error_and_the_others_go_on(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    first, second, third = dispute(), dispute(), dispute()
    await ingest.deliver(seller_id, secret, notice(first, second, third))
    # The first also changes its amount: nothing of it applies. The second changes its reason text.
    moved = first | {"order_id": "3000111122223", "amount": {"value": "1", "currency": "KRW"}}
    amended = second | {"reason_text": "상품 파손"}
    other_kind = third | {"kind": "platform_dispute", "buyer_id": "B-99"}
    answer = await ingest.deliver(seller_id, secret, notice(moved, amended, other_kind, event="dispute.updated"))
    assert answer.status_code == 202, answer.text
    results = answer.json()["results"]
    assert (results[0]["result"], results[0]["code"]) == ("error", "field_immutable")
    assert "order_id" in results[0]["detail"]
    assert (results[2]["result"], results[2]["code"]) == ("error", "field_immutable")
    assert "kind" in results[2]["detail"] and "buyer_id" in results[2]["detail"]
    assert results[1]["result"] == "updated"
    case = await show(ingest, seller_id, first["dispute_id"])
    assert case["order_id"] == first["order_id"] and case["amount"] == {"value": "45000", "currency": "KRW"}
    assert [e["type"] for e in case["timeline"]] == ["dispute.received"]
    assert await ingest.outbox_count(first["dispute_id"], "dispute.updated") == 0
    assert await ingest.outbox_count(third["dispute_id"], "dispute.updated") == 0
    assert (await show(ingest, seller_id, second["dispute_id"]))["reason_text"] == "상품 파손"


async def test_an_update_of_an_unknown_dispute_or_a_decided_case_is_its_error(ingest: Ingest):
    seller_id, secret, item = await opened(ingest)
    closing = {"dispute_id": item["dispute_id"], "outcome": "lost"}
    assert (await ingest.deliver(seller_id, secret, notice(closing, event="dispute.closed"))).status_code == 202
    stranger = dispute()
    changed = item | {"respond_by": "2026-11-30"}
    answer = await ingest.deliver(seller_id, secret, notice(changed, stranger, event="dispute.updated"))
    results = answer.json()["results"]
    assert (results[0]["code"], results[1]["code"]) == ("case_not_open", "case_not_found")
    assert await ingest.outbox_count(item["dispute_id"], "dispute.updated") == 1  # the closing only
    assert await ingest.case_count(stranger["dispute_id"]) == 0
    # Another seller's dispute is unknown to this one.
    other, other_secret = await ingest.onboard()
    foreign = await ingest.deliver(other, other_secret, notice(changed, event="dispute.updated"))
    assert foreign.json()["results"][0]["code"] == "case_not_found"


async def test_a_field_an_opened_dispute_never_carries_is_still_refused(ingest: Ingest):
    seller_id, secret, item = await opened(ingest)
    answer = await ingest.deliver(seller_id, secret, notice(item | {"colour": "red"}, event="dispute.updated"))
    assert (answer.status_code, answer.json()["code"]) == (422, "validation_error")
    assert answer.json()["errors"][0]["type"] == "extra_forbidden"
