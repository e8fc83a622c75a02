"""The webhook's metrics move with what the door did: accepted, replayed, refused by code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.ingest.conftest import Ingest, dispute, notice
from tests.scrape import scrape


async def test_webhooks_are_counted_by_outcome_and_refusals_by_code(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    before = await scrape(ingest.client)

    body = notice(dispute())
    assert (await ingest.deliver(seller_id, secret, body, webhook_id="msg_metrics_1")).status_code == 202
    assert (await ingest.deliver(seller_id, secret, body, webhook_id="msg_metrics_1")).status_code == 200
    _, other_secret = await ingest.onboard()
    assert (await ingest.deliver(seller_id, other_secret, notice(dispute()))).status_code == 401
    stale = datetime.now(UTC) - timedelta(hours=1)
    assert (await ingest.deliver(seller_id, secret, notice(dispute()), at=stale)).status_code == 401
    assert (await ingest.deliver(seller_id, secret, b"{not json")).status_code == 400

    after = await scrape(ingest.client)
    moved = lambda name, **labels: after.value(name, **labels) - before.value(name, **labels)  # noqa: E731
    assert moved("dd_ingest_webhooks_total", outcome="accepted") == 1
    assert moved("dd_ingest_webhooks_total", outcome="replayed") == 1
    assert moved("dd_ingest_webhooks_total", outcome="refused") == 3
    assert moved("dd_ingest_webhook_refusals_total", code="invalid_signature") == 1
    assert moved("dd_ingest_webhook_refusals_total", code="signature_timestamp_out_of_range") == 1
    assert moved("dd_ingest_webhook_refusals_total", code="malformed_json") == 1
