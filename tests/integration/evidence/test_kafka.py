"""The evidence service with its lifespan, against real Kafka: a dispute arrives on its topic, the
seller uploads over HTTP, and `evidence.uploaded` then `evidence.validated` reach their topics,
the second from the debounce worker that runs beside the API."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from services.evidence.main import create_app
from services.evidence.settings import Settings
from shared.contracts import DisputeReceivedV1, Money, new_event, topics
from shared.kafka.producer import create_producer
from tests.integration.evidence.conftest import ORDER, Evidence, sample
from tests.support import end_offsets, eventually, read_since

GROUP = f"dd-evidence-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def keep_logging():
    """The lifespan sends every log of the process to stdout; later tests must not inherit that."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


class _Settings(Settings):
    @property
    def consumer_group(self) -> str:  # its own group: other tests' apps keep their offsets
        return GROUP


async def test_a_dispute_from_kafka_then_uploads_over_http_end_in_evidence_validated_on_its_topic(
    evidence: Evidence, kafka: str, keep_logging: None
):
    seller, dispute = "V-KAFKA", f"CD-K-{uuid.uuid4().hex[:10]}"
    since_uploaded = await end_offsets(kafka, topics.EVIDENCE_UPLOADED)
    since_validated = await end_offsets(kafka, topics.EVIDENCE_VALIDATED)
    settings = _Settings(
        env="local",
        database_url=evidence.settings.database_url,
        kafka_bootstrap_servers=kafka,
        blob_root=evidence.blob_root,
        check_debounce_ms=0,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://evidence") as client,
    ):
        producer = create_producer(kafka, client_id="tests-ingest")
        await producer.start()
        try:
            received = new_event(
                DisputeReceivedV1(
                    dispute_id=dispute,
                    seller_id=seller,
                    notice_id="N-K",
                    kind="chargeback",
                    order_id=ORDER,
                    amount=Money(value="32900", currency="KRW"),
                    reason_code="NOT_RECEIVED",
                    notified_at=datetime(2026, 11, 2, 0, 40, tzinfo=UTC),
                ),
                source="ingest",
                seller_id=seller,
            )
            await producer.send_and_wait(received.type, received.to_bytes(), key=received.key)
        finally:
            await producer.stop()

        headers = evidence.seller_headers(seller)

        async def case_known():
            answer = await client.get(f"/v1/cases/{dispute}/evidence", headers=headers)
            return answer.status_code == 200

        await eventually(case_known, timeout_s=40)
        for name in ("tracking_cj_delivered", "pod_complete", "messages_coupang"):
            answer = await client.post(
                f"/v1/cases/{dispute}/evidence",
                content=json.dumps(sample(name)).encode(),
                headers={**headers, "content-type": "application/json"},
            )
            assert answer.status_code == 201, answer.text

        mine = lambda r: r.key.decode() == dispute  # noqa: E731
        uploaded = await read_since(kafka, since_uploaded, keep=mine, expect=3, timeout_s=30)
        # Debounce 0: each upload may start a run; after a quiet moment the last one checked all three.
        validated = await read_since(kafka, since_validated, keep=mine, quiet_s=2.0, timeout_s=30)
        assert len(uploaded) == 3 and 1 <= len(validated) <= 3
        last = json.loads(validated[-1].value)
        assert last["type"] == "evidence.validated" and last["data"]["status"] == "ready"
        assert len(last["data"]["evidence_set"]) == 3
        report = await client.get(f"/v1/cases/{dispute}/report?lang=ko", headers=headers)
        assert report.json()["report_id"] == last["data"]["report_id"] and report.json()["stale"] is False
