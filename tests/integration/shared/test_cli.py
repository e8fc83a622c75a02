"""The `dd` operator command against real Kafka."""

from __future__ import annotations

import json
import uuid

import jwt
import pytest
from typer.testing import CliRunner

from shared.cli import app
from shared.contracts.topics import dlq_topic
from shared.kafka.producer import create_producer
from shared.kafka.topics import ensure_topics
from tests.support import dispute_received, end_offsets, read_since

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch, kafka):
    monkeypatch.setenv("DD_KAFKA_BOOTSTRAP_SERVERS", kafka)
    monkeypatch.setenv("DD_AUTH_SECRET", "a-test-secret-of-at-least-32-bytes!!")


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout  # the answer alone: warnings go to stderr


def test_token_mints_a_seller_token_for_that_seller(cli_env):
    token = invoke("token", "--role", "seller", "--seller-id", "V123").strip()
    claims = jwt.decode(token, "a-test-secret-of-at-least-32-bytes!!", algorithms=["HS256"])
    assert (claims["role"], claims["seller_id"]) == ("seller", "V123")


def test_seller_token_without_seller_id_is_refused(cli_env):
    assert runner.invoke(app, ["token", "--role", "seller"]).exit_code != 0


def test_topics_is_idempotent(cli_env):
    assert "created 0 topic(s)" in invoke("topics")


async def test_dlq_list_and_replay_of_one_dead_letter(cli_env, kafka):
    topic = f"cli-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, partitions=1, names=[topic, dlq_topic(topic)])
    producer = create_producer(kafka, client_id="test-cli")
    await producer.start()
    try:
        event = dispute_received("CD-CLI-1", 1)
        headers = [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01"), ("dd-error", b"Boom: no")]
        meta = await producer.send_and_wait(dlq_topic(topic), event.to_bytes(), key=event.key, headers=headers)
    finally:
        await producer.stop()

    listed = json.loads(await _invoke_in_thread("dlq", "list", "--topic", topic, "--json"))
    assert [(x["partition"], x["offset"], x["headers"]["dd-error"]) for x in listed] == [(0, meta.offset, "Boom: no")]

    since = await end_offsets(kafka, topic)
    out = await _invoke_in_thread("dlq", "replay", "--topic", topic, "--partition", "0", "--offset", str(meta.offset))
    assert "replayed 1 message(s)" in out
    (record,) = await read_since(kafka, since, expect=1)
    assert record.value == event.to_bytes() and record.key == event.key
    assert [k for k, _ in record.headers] == ["traceparent"]  # the DLQ's own headers are gone

    assert runner.invoke(app, ["dlq", "replay", "--topic", topic]).exit_code != 0  # says what to replay


async def _invoke_in_thread(*args: str) -> str:
    # The CLI runs its own event loop (asyncio.run); keep it off the test's loop.
    import asyncio

    return await asyncio.to_thread(invoke, *args)


async def test_members_shows_which_consumer_owns_which_partitions(cli_env, kafka):
    from aiokafka import AIOKafkaConsumer

    topic, group = f"cli-{uuid.uuid4().hex[:8]}", f"dd-cli-members-{uuid.uuid4().hex[:6]}"
    await ensure_topics(kafka, partitions=2, names=[topic])
    consumers = [
        AIOKafkaConsumer(topic, bootstrap_servers=kafka, group_id=group, client_id=f"replica-{i}") for i in range(2)
    ]
    for consumer in consumers:
        await consumer.start()
    try:
        import asyncio

        out = ""
        for _ in range(60):  # until the group settles: two members, a partition each
            await asyncio.gather(*(c.getmany(timeout_ms=100) for c in consumers))  # keeps both in the group
            out = await _invoke_in_thread("members", "--group", group)
            if out.count(f"{topic}[") == 2:
                break
        rows = {line.split()[1]: line for line in out.splitlines()[1:]}
        assert set(rows) == {"replica-0", "replica-1"}, out
        assert {f"{topic}[0]", f"{topic}[1]"} == {row.split()[-1] for row in rows.values()}, out
    finally:
        for consumer in consumers:
            await consumer.stop()
