"""Seller rules over HTTP, and auto-accept applied to new disputes at ingest time."""

from __future__ import annotations

import json

from sqlalchemy import select

from services.ingest import models
from tests.integration.ingest.conftest import Ingest, dispute, notice


async def test_rules_have_defaults_and_a_seller_replaces_only_its_own(ingest: Ingest):
    seller_id, _ = await ingest.onboard()
    other, _ = await ingest.onboard()
    url = f"/v1/sellers/{seller_id}/rules"
    assert (await ingest.client.get(url, headers=ingest.seller(seller_id))).json() == {
        "auto_accept": None,
        "language": "zh",
        "carrier_templates": [],
    }
    rules = {
        "auto_accept": {"below": {"value": "10000", "currency": "KRW"}, "mode": "flag"},
        "language": "ko",
        "carrier_templates": ["cj", "logen", "kgb"],
    }
    put = await ingest.client.put(url, json=rules, headers=ingest.seller(seller_id))
    assert put.status_code == 200 and put.json() == rules
    assert (await ingest.client.get(url, headers=ingest.operator())).json() == rules
    assert (await ingest.client.get(url, headers=ingest.seller(other))).status_code == 404
    assert (await ingest.client.put(url, json=rules, headers=ingest.seller(other))).status_code == 404
    for bad in (
        {**rules, "colour": "red"},
        {**rules, "carrier_templates": ["taobao"]},
        {**rules, "carrier_templates": ["cj", "cj"]},
        {**rules, "auto_accept": {"below": {"value": "10000", "currency": "WON"}}},
        {**rules, "language": "fr"},
    ):
        refused = await ingest.client.put(url, json=bad, headers=ingest.seller(seller_id))
        assert (refused.status_code, refused.json()["code"]) == (422, "validation_error"), bad


async def test_a_dispute_below_the_sellers_amount_is_accepted_at_ingest_and_says_so_in_order(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    rules = {"auto_accept": {"below": {"value": "10000", "currency": "KRW"}, "mode": "accept"}}
    await ingest.client.put(f"/v1/sellers/{seller_id}/rules", json=rules, headers=ingest.seller(seller_id))
    small = dispute(amount={"value": "9900", "currency": "KRW"})
    large = dispute(amount={"value": "45000", "currency": "KRW"})
    foreign = dispute(amount={"value": "50", "currency": "CNY"})
    answer = await ingest.deliver(seller_id, secret, notice(small, large, foreign))
    assert [(r["result"], r["status"]) for r in answer.json()["results"]] == [
        ("created", "accepted"),
        ("created", "received"),
        ("created", "received"),
    ]
    t = models.outbox_table
    rows = await _rows(ingest, select(t.c.topic, t.c.payload).where(t.c.key == small["dispute_id"]).order_by(t.c.id))
    assert [topic for topic, _ in rows] == ["dispute.received", "dispute.updated"]
    assert json.loads(rows[1][1])["data"]["change"] == "accepted"
    assert await ingest.outbox_count(large["dispute_id"]) == 1 and await ingest.outbox_count(foreign["dispute_id"]) == 1


async def test_flag_mode_only_marks_the_case(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    rules = {"auto_accept": {"below": {"value": "10000", "currency": "KRW"}, "mode": "flag"}}
    await ingest.client.put(f"/v1/sellers/{seller_id}/rules", json=rules, headers=ingest.operator())
    small = dispute(amount={"value": "100", "currency": "KRW"})
    await ingest.deliver(seller_id, secret, notice(small))
    case = (await ingest.client.get(f"/v1/cases/{small['dispute_id']}", headers=ingest.seller(seller_id))).json()
    assert case["flagged"] is True and case["status"] == "received"
    assert await ingest.outbox_count(small["dispute_id"]) == 1


async def _rows(ingest: Ingest, query):
    async with ingest.sessions() as session:
        return list(await session.execute(query))


async def test_auto_accept_applies_to_open_rows_of_a_csv_import_but_not_to_history(ingest: Ingest):
    seller_id, _ = await ingest.onboard()
    rules = {"auto_accept": {"below": {"value": "10000", "currency": "KRW"}}}
    await ingest.client.put(f"/v1/sellers/{seller_id}/rules", json=rules, headers=ingest.operator())
    prefix = dispute()["dispute_id"]
    csv = (
        "dispute_id,kind,order_id,amount,currency,reason_code,notified_at,status\n"
        f"{prefix}-1,chargeback,1,5000,KRW,NOT_RECEIVED,2026-11-20T10:00:00+09:00,received\n"
        f"{prefix}-2,chargeback,2,50000,KRW,NOT_RECEIVED,2026-11-20T10:00:00+09:00,received\n"
        f"{prefix}-3,chargeback,3,5000,KRW,NOT_RECEIVED,2026-08-20T10:00:00+09:00,lost\n"
    )
    headers = {**ingest.seller(seller_id), "content-type": "text/csv"}
    assert (await ingest.client.post("/v1/disputes/import", content=csv.encode(), headers=headers)).json()[
        "created"
    ] == 3

    async def status(n: int) -> str:
        return (await ingest.client.get(f"/v1/cases/{prefix}-{n}", headers=ingest.seller(seller_id))).json()["status"]

    assert [await status(n) for n in (1, 2, 3)] == ["accepted", "received", "lost"]
    t = models.outbox_table
    rows = await _rows(ingest, select(t.c.topic).where(t.c.key == f"{prefix}-1").order_by(t.c.id))
    assert [topic for (topic,) in rows] == ["dispute.received", "dispute.updated"]
    assert await ingest.outbox_count(f"{prefix}-3") == 0


async def received_language(ingest: Ingest, dispute_id: str) -> str | None:
    t = models.outbox_table
    query = select(t.c.payload).where(t.c.key == dispute_id, t.c.topic == "dispute.received")
    return json.loads(await ingest.scalar(query))["data"]["language"]


async def test_dispute_received_carries_the_sellers_language_at_arrival_from_webhook_and_import(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    url = f"/v1/sellers/{seller_id}/rules"
    untouched = dispute()
    await ingest.deliver(seller_id, secret, notice(untouched))
    assert await received_language(ingest, untouched["dispute_id"]) == "zh"  # the default of the rules

    put = await ingest.client.put(url, json={"language": "ko"}, headers=ingest.seller(seller_id))
    assert put.status_code == 200
    one, two, three = dispute(), dispute(), dispute()
    await ingest.deliver(seller_id, secret, notice(one))  # the one-dispute fast path
    await ingest.deliver(seller_id, secret, notice(two, three))
    header = "dispute_id,kind,order_id,amount,currency,reason_code,notified_at,status\n"
    imported = f"CD-IMP-{one['dispute_id'][3:]}"
    row = f"{imported},chargeback,3001,45000,KRW,NOT_RECEIVED,2026-11-01T10:00:00+09:00,received\n"
    answer = await ingest.client.post(
        "/v1/disputes/import",
        content=(header + row).encode(),
        headers={**ingest.seller(seller_id), "content-type": "text/csv"},
    )
    assert answer.json()["created"] == 1, answer.text
    for dispute_id in (one["dispute_id"], two["dispute_id"], three["dispute_id"], imported):
        assert await received_language(ingest, dispute_id) == "ko", dispute_id

    # A later change applies to later disputes; the earlier events keep what they said.
    await ingest.client.put(url, json={"language": "en"}, headers=ingest.seller(seller_id))
    later = dispute()
    await ingest.deliver(seller_id, secret, notice(later))
    assert await received_language(ingest, later["dispute_id"]) == "en"
    assert await received_language(ingest, one["dispute_id"]) == "ko"
