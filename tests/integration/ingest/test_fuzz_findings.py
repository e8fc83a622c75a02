"""What the fuzzer (tests/integration/fuzz) found in the ingest API, pinned through the HTTP API."""

from __future__ import annotations

import pytest

from tests.integration.ingest.conftest import Ingest


@pytest.mark.parametrize("month", ["0000-01", "9999-12", "1999-12"])
async def test_a_month_out_of_range_is_a_validation_problem_not_a_500(ingest: Ingest, month: str) -> None:
    seller_id, _ = await ingest.onboard()
    answers = [
        await ingest.client.get(
            f"/v1/sellers/{seller_id}/statement", params={"month": month}, headers=ingest.operator()
        ),
        await ingest.client.get(f"/v1/rates/{month}", headers=ingest.operator()),
        await ingest.client.put(
            f"/v1/rates/{month}", json={"plan_currency": "CNY", "rates": {"KRW": "0.005"}}, headers=ingest.operator()
        ),
    ]
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] == "validation_error"
