"""The backbone across a Kafka outage: a graceful broker stop (SIGTERM) longer than request_timeout.

During a controlled shutdown partitions lose their leader; aiokafka 0.14 then expires the
queued batches after numbering them, and the old relay wedged for good on
OutOfOrderSequenceNumber. These tests stop the test broker for real and watch it recover.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from dataclasses import replace

import httpx
import pytest
import structlog
from aiokafka import ConsumerRecord
from sqlalchemy import delete, func, select

from services.ingest.main import DEFINITION as INGEST
from services.ingest.main import Settings as IngestSettings
from shared.contracts import parse_event, topics
from shared.contracts.topics import dlq_topic
from shared.db.migrations import upgrade
from shared.db.outbox import Outbox
from shared.db.session import session_scope
from shared.kafka.dlq import read_dead_letters, send_to_dlq
from shared.kafka.producer import KafkaProducer
from shared.kafka.quiet import quiet_aiokafka_logs
from shared.kafka.relay import OutboxRelay
from shared.metrics import BackboneMetrics
from shared.settings import ServiceSettings
from shared.web.app import create_service_app
from shared.web.auth import Role, mint_token
from tests.support import dispute_received, end_offsets, eventually, read_since

REQUEST_TIMEOUT_MS = 3_000
OUTAGE_S = 2.2 * REQUEST_TIMEOUT_MS / 1000
DISPUTES = 13


def _local(infra):
    if infra.local is None:
        pytest.fail("this test stops Kafka; run it against the project's local servers")
    return infra.local


async def _outbox_rows(scratch) -> int:
    async with session_scope(scratch.sessions) as session:
        return (await session.execute(select(func.count()).select_from(scratch.outbox_table))).scalar_one()


def _dead_letter_source(topic: str, offset: int, key: bytes) -> ConsumerRecord:
    return ConsumerRecord(topic, 0, offset, 0, 0, key, b"{}", None, len(key), 2, [])


async def test_relay_and_dlq_recover_after_kafka_stops_gracefully_for_longer_than_request_timeout(
    infra, kafka, scratch
):
    local = _local(infra)
    settings = ServiceSettings(
        database_url=infra.database_url,
        kafka_bootstrap_servers=kafka,
        kafka_request_timeout_ms=REQUEST_TIMEOUT_MS,
        outbox_batch_size=50,
        outbox_retry_backoff_max_ms=1_000,
    )
    metrics = BackboneMetrics()
    producer = KafkaProducer.from_settings(settings, client_id="test-outage", metrics=metrics)
    await producer.start()
    relay = OutboxRelay(
        outbox_table=scratch.outbox_table,
        producer=producer,
        settings=settings,
        metrics=metrics,
    )
    quiet_aiokafka_logs(every_s=5.0)
    since = await end_offsets(kafka, topics.DISPUTE_RECEIVED)
    dlq = dlq_topic(topics.DISPUTE_RECEIVED)
    outbox = Outbox(scratch.outbox_table)
    written: list[int] = []
    dead_lettered: list[int] = []
    stop_writing = asyncio.Event()

    async def write_events() -> None:  # steady writes, as a service under load would make
        seq = 0
        while not stop_writing.is_set():
            async with session_scope(scratch.sessions) as session:
                await outbox.add(session, dispute_received(scratch.dispute_id(seq % DISPUTES), seq))
            written.append(seq)
            seq += 1
            await asyncio.sleep(0.01)

    async def dead_letter() -> None:  # the consumer's DLQ path: retry the same message until it goes
        n = 0
        while not stop_writing.is_set():
            key = f"{scratch.prefix}-dlq".encode()
            try:
                await send_to_dlq(
                    producer,
                    _dead_letter_source(topics.DISPUTE_RECEIVED, n, key),
                    error=RuntimeError(f"dlq-{n}"),
                    service="test",
                    consumer_group="g",
                    attempts=1,
                )
                dead_lettered.append(n)
                n += 1
            except Exception:
                await asyncio.sleep(0.5)
            await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(c) for c in (relay.run(), write_events(), dead_letter())]
    try:
        with structlog.testing.capture_logs() as lines:
            await asyncio.sleep(1.5)  # events flowing
            await asyncio.to_thread(local.stop_kafka)
            cpu0, wall0 = time.process_time(), time.monotonic()
            await asyncio.sleep(OUTAGE_S)
            cpu_share = (time.process_time() - cpu0) / (time.monotonic() - wall0)
            stuck_during_outage = await _outbox_rows(scratch)
            await asyncio.to_thread(local.start_kafka)
            await asyncio.sleep(2)  # events flowing again
            stop_writing.set()
            await eventually(lambda: _empty(scratch), timeout_s=40)
    finally:
        stop_writing.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()

    records = await read_since(
        kafka, since, keep=lambda r: r.key.decode().startswith(scratch.prefix), expect=len(written), timeout_s=30
    )
    seqs = [int(parse_event(r.value).data.notice_id.split("-")[1]) for r in records]
    duplicates = len(seqs) - len(set(seqs))
    replacements, failures = (_count(metrics, name) for name in ("dd_producer_replacements", "dd_relay_failures"))
    print(
        f"\nwritten={len(written)} stuck_during_outage={stuck_during_outage} duplicates={duplicates}"
        f" replacements={replacements} relay_failures={failures}"
        f" cpu_share_during_outage={cpu_share:.3f} dead_lettered={len(dead_lettered)}"
        f" log_lines={Counter(line['event'] for line in lines)}"
        f" replaced_on={[line['error'][:80] for line in lines if line['event'] == 'kafka_producer_replaced']}"
    )
    assert stuck_during_outage > 0, "the outage should have held rows back"
    assert sorted(set(seqs)) == written, "every written event is published"
    assert duplicates <= 2 * settings.outbox_batch_size, f"duplicates should stay bounded: {duplicates}"
    first_seen: dict[str, list[int]] = defaultdict(list)
    seen: set[int] = set()
    for record, seq in zip(records, seqs, strict=True):
        if seq not in seen:
            seen.add(seq)
            first_seen[record.key.decode()].append(seq)
    assert all(s == sorted(s) for s in first_seen.values()), "per-dispute order, as an idempotent consumer sees it"
    assert replacements >= 1, "the producer should have been replaced"
    assert cpu_share < 0.35, f"CPU during the outage: {cpu_share:.2f} of a core"
    kafka_lines = sum(1 for line in lines if line["event"] == "kafka_unavailable")
    assert kafka_lines <= OUTAGE_S / 5 + 6, f"kafka_unavailable lines are rate-limited: {kafka_lines}"

    key = f"{scratch.prefix}-dlq"
    sent = [int(d.error.split("dlq-")[1]) for d in await read_dead_letters(kafka, [dlq]) if d.key == key]
    print(f"dead letters: acknowledged={len(dead_lettered)} in topic={len(sent)} distinct={len(set(sent))}")
    assert dead_lettered, "the DLQ path should have sent something"
    assert set(dead_lettered) <= set(sent), "every acknowledged dead letter is in the DLQ topic"
    assert set(sent) - set(dead_lettered) <= {len(dead_lettered)}, "only the one in hand at the end may be extra"


def _count(metrics: BackboneMetrics, name: str) -> float:
    return metrics.registry.get_sample_value(f"{name}_total") or 0.0


async def _empty(scratch) -> bool:
    return await _outbox_rows(scratch) == 0


async def test_lag_and_readiness_answer_503_while_kafka_is_down_without_consumer_groups(infra, kafka):
    local = _local(infra)
    await asyncio.to_thread(upgrade, INGEST.migrations, infra.database_url)
    settings = IngestSettings(database_url=infra.database_url, kafka_bootstrap_servers=kafka)
    app = create_service_app(settings, replace(INGEST, handlers={}))  # no consumer group at all
    token = mint_token(settings.auth_secret, Role.operator)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client,
    ):

        async def lag_is(code: int):
            response = await client.get("/v1/ops/lag", headers={"Authorization": f"Bearer {token}"})
            return response if response.status_code == code else None

        await eventually(lambda: lag_is(200), timeout_s=30)
        await asyncio.to_thread(local.stop_kafka)
        try:
            cpu0, wall0 = time.process_time(), time.monotonic()
            down = await eventually(lambda: lag_is(503), timeout_s=10)
            assert down.json()["code"] == "kafka_unavailable"
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["kafka"].startswith("unavailable")
            metrics = (await client.get("/metrics")).text
            assert "dd_outbox_oldest_age_seconds" in metrics and "dd_producer_replacements_total" in metrics
            await asyncio.sleep(max(0.0, 5 - (time.monotonic() - wall0)))
            cpu_share = (time.process_time() - cpu0) / (time.monotonic() - wall0)
            print(f"\nidle service, Kafka down: {cpu_share:.3f} of a core")
        finally:
            await asyncio.to_thread(local.start_kafka)
        await eventually(lambda: lag_is(200), timeout_s=60)


async def test_readiness_says_the_outbox_is_stalled_when_rows_wait_and_nothing_is_published(infra, kafka):
    await asyncio.to_thread(upgrade, INGEST.migrations, infra.database_url)
    settings = IngestSettings(database_url=infra.database_url, kafka_bootstrap_servers=kafka, outbox_stall_after_s=1.0)
    app = create_service_app(settings, replace(INGEST, handlers={}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client,
    ):
        runtime = app.state.runtime
        await eventually(lambda: _ready(client), timeout_s=30)
        (relay_task,) = [t for t in runtime._tasks if t.get_name().endswith("-relay")]
        relay_task.cancel()  # a relay that died or hangs: nothing else would notice
        await asyncio.gather(relay_task, return_exceptions=True)
        event = dispute_received(f"STALL-{time.time_ns()}", 1)
        async with session_scope(runtime.sessions) as session:
            await Outbox(INGEST.outbox_table).add(session, event)
        try:
            stalled = await eventually(lambda: _not_ready(client), timeout_s=10)
            assert "outbox stalled (1 rows" in stalled.json()["checks"]["kafka"], stalled.text
            assert "dd_outbox_oldest_age_seconds" in (await client.get("/metrics")).text
        finally:
            async with session_scope(runtime.sessions) as session:
                await session.execute(delete(INGEST.outbox_table).where(INGEST.outbox_table.c.event_id == event.id))


async def _ready(client):
    return (await client.get("/readyz")).status_code == 200


async def _not_ready(client):
    response = await client.get("/readyz")
    return response if response.status_code == 503 else None
