"""Each service: its own schema by its own migrations, readiness that tells the truth, topics."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.deadline.main import DEFINITION as DEADLINE
from services.evidence.main import DEFINITION as EVIDENCE
from services.ingest.main import DEFINITION as INGEST
from services.ingest.main import Settings as IngestSettings
from services.ingest.main import create_app as create_ingest_app
from services.notify.main import DEFINITION as NOTIFY
from services.submit.main import DEFINITION as SUBMIT
from shared.contracts.topics import ALL_TOPICS, DISPUTE_RECEIVED
from shared.db.migrations import upgrade
from shared.web.app import create_service_app
from shared.web.auth import Role, mint_token
from tests.support import eventually

DEFINITIONS = [INGEST, EVIDENCE, DEADLINE, NOTIFY, SUBMIT]


@pytest.fixture
async def fresh_database(infra):
    """An empty database, so what a migration creates is all there is."""
    name = f"mig_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(infra.database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(infra.database_url).set(database=name).render_as_string(hide_password=False)
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    await admin.dispose()


async def _tables_by_schema(url: str) -> dict[str, set[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                )
            )
            found: dict[str, set[str]] = {}
            for schema, table in rows:
                found.setdefault(schema, set()).add(table)
            return found
    finally:
        await engine.dispose()


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: d.name)
async def test_each_service_migrates_its_own_schema_only(fresh_database, definition):
    await asyncio.to_thread(upgrade, definition.migrations, fresh_database)
    assert await _tables_by_schema(fresh_database) == {
        definition.name: {"alembic_version", "outbox", "inbox"} | _service_tables(definition)
    }
    # A second run is a no-op, not an error.
    await asyncio.to_thread(upgrade, definition.migrations, fresh_database)


def _service_tables(definition) -> set[str]:
    return {t.name for t in definition.metadata.sorted_tables} - {"outbox", "inbox"}


async def test_all_five_schemas_live_side_by_side_in_one_database(fresh_database):
    for definition in DEFINITIONS:
        await asyncio.to_thread(upgrade, definition.migrations, fresh_database)
    assert set(await _tables_by_schema(fresh_database)) == {d.name for d in DEFINITIONS}


@pytest.mark.parametrize("topic", ALL_TOPICS)
async def test_a_message_produced_to_each_topic_can_be_consumed(kafka, topic):
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True)
    await consumer.start()
    await producer.start()
    try:
        marker = uuid.uuid4().hex.encode()
        meta = await producer.send_and_wait(topic, b'{"probe": true}', key=marker)
        tp = TopicPartition(topic, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        batch = await consumer.getmany(tp, timeout_ms=5000)
        assert [r.key for r in batch.get(tp, [])][:1] == [marker]
        assert len(consumer.partitions_for_topic(topic)) == 6
    finally:
        await producer.stop()
        await consumer.stop()


async def test_readyz_turns_503_when_postgres_stops_and_200_when_it_returns(infra, kafka):
    if infra.local is None:
        pytest.fail("this test stops PostgreSQL; run it against the project's local servers")
    await asyncio.to_thread(upgrade, INGEST.migrations, infra.database_url)
    settings = IngestSettings(database_url=infra.database_url, kafka_bootstrap_servers=kafka)
    app = create_ingest_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client,
    ):

        async def ready_is(code: int):
            response = await client.get("/readyz")
            return response if response.status_code == code else None

        ok = await eventually(lambda: ready_is(200), timeout_s=30)
        assert ok.json()["checks"] == {"database": "ok", "kafka": "ok"}

        await asyncio.to_thread(infra.local.stop_postgres)
        try:
            down = await eventually(lambda: ready_is(503), timeout_s=15)
            assert down.json()["checks"]["database"].startswith("unavailable")
            assert down.json()["checks"]["kafka"] == "ok"
        finally:
            await asyncio.to_thread(infra.local.start_postgres)
        await eventually(lambda: ready_is(200), timeout_s=30)

        assert (await client.get("/healthz")).json() == {"status": "ok", "service": "ingest"}
        metrics = await client.get("/metrics")
        assert "dd_outbox_backlog" in metrics.text
        assert 'dd_parked_events{service="ingest"}' in metrics.text  # an early event that never resolves shows here
        token = mint_token(settings.auth_secret, Role.operator)
        lag = await client.get("/v1/ops/lag", headers={"Authorization": f"Bearer {token}"})
        assert lag.status_code == 200 and lag.json()["service"] == "ingest", lag.text
        assert (await client.get("/v1/ops/lag")).status_code == 401


async def test_readyz_turns_503_when_kafka_stops_and_200_when_it_returns(infra, kafka):
    if infra.local is None:
        pytest.fail("this test stops Kafka; run it against the project's local servers")
    await asyncio.to_thread(upgrade, INGEST.migrations, infra.database_url)
    settings = IngestSettings(database_url=infra.database_url, kafka_bootstrap_servers=kafka)

    async def ignore(session, event, ctx) -> None:
        pass

    # With a consumer, so there is lag to read (and to fail to read while Kafka is away).
    app = create_service_app(settings, replace(INGEST, handlers={f"{DISPUTE_RECEIVED}/v1": ignore}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client,
    ):

        async def ready_is(code: int):
            response = await client.get("/readyz")
            return response if response.status_code == code else None

        await eventually(lambda: ready_is(200), timeout_s=30)
        await asyncio.to_thread(infra.local.stop_kafka)
        try:
            down = await eventually(lambda: ready_is(503), timeout_s=20)
            assert down.json()["checks"]["kafka"].startswith("unavailable")
            assert down.json()["checks"]["database"] == "ok"
            token = mint_token(settings.auth_secret, Role.operator)
            lag = await client.get("/v1/ops/lag", headers={"Authorization": f"Bearer {token}"})
            assert (lag.status_code, lag.json().get("code")) == (503, "kafka_unavailable"), lag.text
        finally:
            await asyncio.to_thread(infra.local.start_kafka)
        await eventually(lambda: ready_is(200), timeout_s=60)
