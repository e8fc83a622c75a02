"""Tenant isolation on every seller-scoped endpoint: another seller's data answers 404, never 403 or 200."""

from __future__ import annotations

import pytest

from tests.integration.ingest.conftest import Ingest, dispute, notice

PLAN = {
    "tier": "lite",
    "base_fee": "100",
    "case_fee_domestic": "80",
    "case_fee_international": "150",
    "commission_rate": "0.03",
    "commission_cap": "2000",
}


@pytest.fixture(scope="module")
async def owner(ingest: Ingest) -> dict[str, str]:
    seller_id, secret = await ingest.onboard()
    item = dispute(buyer_id="B-TENANT")
    await ingest.deliver(seller_id, secret, notice(item))
    await ingest.client.put(f"/v1/sellers/{seller_id}/plan", json=PLAN, headers=ingest.operator())
    return {"seller": seller_id, "case": item["dispute_id"]}


ENDPOINTS = [
    ("GET", "/v1/sellers/{seller}", None),
    ("POST", "/v1/sellers/{seller}/webhook-secret/rotate", None),
    ("GET", "/v1/sellers/{seller}/rules", None),
    ("PUT", "/v1/sellers/{seller}/rules", {"language": "ko"}),
    ("GET", "/v1/sellers/{seller}/plan", None),
    ("GET", "/v1/sellers/{seller}/statement?month=2026-11", None),
    ("GET", "/v1/cases/{case}", None),
    ("POST", "/v1/cases/{case}/accept", None),
    ("GET", "/v1/cases?seller_id={seller}", None),
    ("GET", "/v1/stats?seller_id={seller}", None),
    ("GET", "/v1/buyers/B-TENANT/risk", None),
    ("GET", "/v1/buyers/B-TENANT/risk?seller_id={seller}", None),
    ("POST", "/v1/disputes/import?seller_id={seller}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
async def test_another_sellers_data_is_404(ingest: Ingest, owner: dict[str, str], method: str, path: str, body):
    intruder, _ = await ingest.onboard()
    url = path.format(**owner)
    answer = await ingest.client.request(method, url, json=body, headers=ingest.seller(intruder))
    assert answer.status_code == 404, (url, answer.status_code, answer.text)
    # ... and the owner still reaches it (the 404 is about who asks, not a broken route).
    if method == "GET":
        assert (await ingest.client.get(url, headers=ingest.seller(owner["seller"]))).status_code == 200, url
