"""Buyer risk over HTTP: one buyer's disputes with one seller, flagged with a factual note when abnormal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.integration.ingest.conftest import Ingest, dispute, notice


def _kst(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


async def test_three_disputes_in_ninety_days_are_abnormal_with_facts_in_korean_and_chinese(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    other, _ = await ingest.onboard()
    buyer = f"B-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC)
    for days, order in ((200, "3000000000001"), (40, "3000000000002"), (20, "3000000000003")):
        body = notice(dispute(buyer_id=buyer, order_id=order)) | {"notified_at": _kst(now - timedelta(days=days))}
        assert (await ingest.deliver(seller_id, secret, body)).status_code == 202
    url = f"/v1/buyers/{buyer}/risk"

    two = (await ingest.client.get(url, headers=ingest.seller(seller_id))).json()
    assert (two["count"], two["abnormal"], two["note_ko"]) == (2, False, None)  # the first is outside the window

    body = notice(dispute(buyer_id=buyer, order_id="3000000000004", reason_code="DAMAGED"))
    await ingest.deliver(seller_id, secret, body | {"notified_at": _kst(now - timedelta(days=1))})
    risk = (await ingest.client.get(url, headers=ingest.seller(seller_id))).json()
    assert risk["count"] == 3 and risk["abnormal"] is True
    assert risk["reasons"] == {"NOT_RECEIVED": 2, "DAMAGED": 1} and risk["outcomes"] == {"received": 3}
    for order in ("3000000000002", "3000000000003", "3000000000004"):
        assert order in risk["note_ko"] and order in risk["note_zh"]
    assert "3000000000001" not in risk["note_ko"]
    assert "상품 파손" in risk["note_ko"] and "商品损坏" in risk["note_zh"]

    assert (await ingest.client.get(url, headers=ingest.seller(other))).json()["code"] == "buyer_not_found"
    foreign = await ingest.client.get(url, params={"seller_id": seller_id}, headers=ingest.seller(other))
    assert foreign.status_code == 404
    operator = await ingest.client.get(url, params={"seller_id": seller_id}, headers=ingest.operator())
    assert operator.json()["count"] == 3
    assert (await ingest.client.get(url, headers=ingest.operator())).json()["code"] == "seller_id_required"
