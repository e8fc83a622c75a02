"""The ingest service with its lifespan, against real Kafka: a notice's events reach their topic
through the outbox relay, and facts from other services reach the case through the consumer."""

from __future__ import annotations

import json
import logging
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from services.ingest import models
from services.ingest.main import create_app
from services.ingest.settings import Settings
from shared.contracts import EvidenceUploadedV1, new_event, topics
from shared.kafka.producer import create_producer
from tests.integration.ingest.conftest import Ingest, dispute, notice, signed_headers
from tests.support import end_offsets, eventually, read_since

GROUP = f"dd-ingest-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def keep_logging():
    """The app's lifespan sends every log of the process to stdout; later tests (the CLI's, which
    parse stdout) must not inherit that."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


class _Settings(Settings):
    @property
    def consumer_group(self) -> str:  # its own group: offsets of other tests' ingest apps stay theirs
        return GROUP


async def test_a_three_dispute_notice_puts_three_events_on_kafka_and_consumed_facts_reach_the_case(
    ingest: Ingest, kafka: str, keep_logging: None
):
    seller_id, secret = await ingest.onboard()
    disputes = [dispute(), dispute(), dispute()]
    ids = {d["dispute_id"] for d in disputes}
    since = await end_offsets(kafka, topics.DISPUTE_RECEIVED)
    settings = _Settings(env="local", database_url=ingest.settings.database_url, kafka_bootstrap_servers=kafka)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client,
    ):
        raw = json.dumps(notice(*disputes)).encode()
        answer = await client.post(
            f"/v1/webhooks/coupang/{seller_id}", content=raw, headers=signed_headers(secret, raw)
        )
        assert answer.status_code == 202
        records = await read_since(kafka, since, keep=lambda r: r.key.decode() in ids, expect=3, timeout_s=30)
        assert sorted(r.key.decode() for r in records) == sorted(ids)
        assert {json.loads(r.value)["type"] for r in records} == {"dispute.received"}

        # Its own events come back through its consumer: claimed in the inbox, nothing doubled.
        event_ids = [uuid.UUID(json.loads(r.value)["id"]) for r in records]
        claimed = (
            select(func.count())
            .select_from(models.inbox_table)
            .where(models.inbox_table.c.consumer == GROUP, models.inbox_table.c.event_id.in_(event_ids))
        )
        await eventually(lambda: _equals(ingest, claimed, 3), timeout_s=40)

        # A fact from another service, through Kafka, moves the case.
        target = disputes[0]["dispute_id"]
        producer = create_producer(kafka, client_id="tests-evidence")
        await producer.start()
        try:
            event = new_event(
                EvidenceUploadedV1(dispute_id=target, evidence_id=uuid.uuid4(), kind="tracking_record"),
                source="evidence",
                seller_id=seller_id,
            )
            await producer.send_and_wait(event.type, event.to_bytes(), key=event.key)
        finally:
            await producer.stop()

        async def moved():
            case = await client.get(f"/v1/cases/{target}", headers=ingest.seller(seller_id))
            return case.json() if case.json()["status"] == "evidence_pending" else None

        case = await eventually(moved, timeout_s=30)
        assert [e["type"] for e in case["timeline"]] == ["dispute.received", "evidence.uploaded"]


async def _equals(ingest: Ingest, query, expected: int) -> bool:
    return await ingest.scalar(query) == expected
