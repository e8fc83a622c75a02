"""The transactional outbox and its relay, against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from shared.contracts import parse_event, topics
from shared.db.outbox import Outbox
from shared.db.session import session_scope
from shared.kafka.producer import KafkaProducer
from shared.kafka.relay import OutboxRelay, asyncpg_dsn
from shared.settings import ServiceSettings
from shared.tracing import new_traceparent, trace_id_of, trace_scope
from shared.web.middleware import RequestContextMiddleware
from tests.support import dispute_received, end_offsets, read_since


class Boom(Exception):
    pass


async def _relay(scratch, infra, kafka, **settings):
    config = ServiceSettings(database_url=infra.database_url, kafka_bootstrap_servers=kafka, **settings)
    producer = KafkaProducer.from_settings(config, client_id="test-relay")
    await producer.start()
    relay = OutboxRelay(outbox_table=scratch.outbox_table, producer=producer, settings=config)
    return relay, producer


async def test_rolled_back_transaction_publishes_nothing_and_committed_one_publishes_once(scratch, infra, kafka):
    outbox = Outbox(scratch.outbox_table)
    since = await end_offsets(kafka, topics.DISPUTE_RECEIVED)
    rolled_back = dispute_received(scratch.dispute_id(1), 1)
    committed = dispute_received(scratch.dispute_id(2), 2)

    with pytest.raises(Boom):
        async with session_scope(scratch.sessions) as session:
            await outbox.add(session, rolled_back)
            raise Boom
    async with session_scope(scratch.sessions) as session:
        await outbox.add(session, committed)

    relay, producer = await _relay(scratch, infra, kafka)
    try:
        assert await relay.publish_batch() == 1
        assert await relay.publish_batch() == 0
    finally:
        await relay.close()
        await producer.stop()

    records = await read_since(kafka, since, keep=lambda r: r.key.decode().startswith(scratch.prefix))
    assert [parse_event(r.value).id for r in records] == [committed.id]
    assert records[0].key == scratch.dispute_id(2).encode()
    async with session_scope(scratch.sessions) as session:
        assert await outbox.backlog(session) == 0


async def test_relay_wakes_on_commit_without_waiting_for_its_poll(scratch, infra, kafka):
    """The commit comes after the relay's empty claim, and its poll (30 s) is far past the test's
    5 s: only the outbox's NOTIFY can bring the row out in time."""
    outbox = Outbox(scratch.outbox_table)
    since = await end_offsets(kafka, topics.DISPUTE_RECEIVED)
    relay, producer = await _relay(scratch, infra, kafka, outbox_poll_interval_ms=30_000)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(relay.loop.waiting.wait(), 10)  # claimed nothing, asleep on LISTEN
        assert relay.loop.passes == 1
        event = dispute_received(scratch.dispute_id(1), 1)
        async with session_scope(scratch.sessions) as session:
            await outbox.add(session, event)
        records = await read_since(
            kafka, since, keep=lambda r: r.key.decode().startswith(scratch.prefix), expect=1, timeout_s=5
        )
        assert [parse_event(r.value).id for r in records] == [event.id]
        assert relay.loop.passes >= 2  # woken: a second claim long before the poll
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()


async def test_two_relays_publish_each_row_once_in_order_per_dispute(scratch, infra, kafka):
    outbox = Outbox(scratch.outbox_table)
    since = await end_offsets(kafka, topics.DISPUTE_RECEIVED)
    disputes, per_dispute = 40, 25
    sent = []
    for round_ in range(per_dispute):
        async with session_scope(scratch.sessions) as session:
            batch = [dispute_received(scratch.dispute_id(d), round_) for d in range(disputes)]
            await outbox.add(session, *batch)
            sent.extend(batch)

    relays = [await _relay(scratch, infra, kafka, outbox_batch_size=37) for _ in range(2)]
    published = [0, 0]

    async def drain(i: int) -> None:
        relay = relays[i][0]
        idle = 0
        while idle < 3:
            n = await relay.publish_batch()
            published[i] += n
            idle = idle + 1 if n == 0 else 0
            await asyncio.sleep(0)

    try:
        await asyncio.gather(drain(0), drain(1))
    finally:
        for relay, producer in relays:
            await relay.close()
            await producer.stop()

    assert sum(published) == len(sent)
    assert all(published), f"both relays should have taken rows: {published}"
    records = await read_since(kafka, since, keep=lambda r: r.key.decode().startswith(scratch.prefix), expect=len(sent))
    ids = [parse_event(r.value).id for r in records]
    assert len(ids) == len(set(ids)) == len(sent)
    order = defaultdict(list)
    for r in records:
        order[r.key.decode()].append(int(parse_event(r.value).data.notice_id.split("-")[1]))
    assert all(seqs == sorted(seqs) for seqs in order.values())
    async with session_scope(scratch.sessions) as session:
        assert (await session.execute(select(func.count()).select_from(scratch.outbox_table))).scalar_one() == 0


async def test_two_running_relays_drain_a_busy_outbox_once_and_in_order(scratch, infra, kafka):
    """Fed by NOTIFY alone (the poll is a minute): every row published once, in order per dispute."""
    outbox = Outbox(scratch.outbox_table)
    since = await end_offsets(kafka, topics.DISPUTE_RECEIVED)
    relays = [
        await _relay(scratch, infra, kafka, outbox_batch_size=7, outbox_poll_interval_ms=60_000) for _ in range(2)
    ]
    tasks = [asyncio.create_task(relay.run()) for relay, _ in relays]
    sent = []
    try:
        for relay, _ in relays:  # both idle on LISTEN: from here on only NOTIFY wakes them in time
            await asyncio.wait_for(relay.loop.waiting.wait(), 10)
        for round_ in range(30):  # few disputes, so one relay's rows often hold the other's back
            async with session_scope(scratch.sessions) as session:
                batch = [dispute_received(scratch.dispute_id(d), round_) for d in range(3)]
                await outbox.add(session, *batch)
                sent.extend(batch)
            await asyncio.sleep(0.005)
        records = await read_since(
            kafka, since, keep=lambda r: r.key.decode().startswith(scratch.prefix), expect=len(sent), timeout_s=10
        )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, producer in relays:
            await producer.stop()
    ids = [parse_event(r.value).id for r in records]
    assert len(ids) == len(set(ids)) == len(sent)
    order = defaultdict(list)
    for r in records:
        order[r.key.decode()].append(int(parse_event(r.value).data.notice_id.split("-")[1]))
    assert all(seqs == sorted(seqs) for seqs in order.values())
    async with session_scope(scratch.sessions) as session:
        assert await outbox.backlog(session) == 0


async def test_kafka_headers_carry_the_traceparent_of_the_writer(scratch, infra, kafka):
    outbox = Outbox(scratch.outbox_table)
    since = await end_offsets(kafka, topics.DISPUTE_RECEIVED)
    traceparent = new_traceparent()
    with trace_scope(traceparent):
        async with session_scope(scratch.sessions) as session:
            await outbox.add(session, dispute_received(scratch.dispute_id(1), 1))
    relay, producer = await _relay(scratch, infra, kafka)
    try:
        await relay.publish_batch()
    finally:
        await relay.close()
        await producer.stop()
    (record,) = await read_since(kafka, since, keep=lambda r: r.key.decode().startswith(scratch.prefix), expect=1)
    # Same trace; the span id is the writer's, or the relay's publish span once aiokafka is
    # instrumented (an earlier test in the session may have done it).
    assert trace_id_of(dict(record.headers)["traceparent"].decode()) == trace_id_of(traceparent)
    assert uuid.UUID(str(parse_event(record.value).id))
    # CloudEvents' Kafka binding: the structured mode is said in the content-type header.
    assert dict(record.headers)["content-type"] == b"application/cloudevents+json; charset=UTF-8"


async def test_the_trace_of_an_http_request_rides_on_the_events_it_writes(scratch):
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware)

    @app.post("/disputes")
    async def receive_dispute() -> dict:
        async with session_scope(scratch.sessions) as session:
            await Outbox(scratch.outbox_table).add(session, dispute_received(scratch.dispute_id(1), 1))
        return {}

    caller = new_traceparent()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.post("/disputes", headers={"traceparent": caller})
    async with session_scope(scratch.sessions) as session:
        (headers,) = (await session.execute(select(scratch.outbox_table.c.headers))).scalars()
    assert trace_id_of(headers["traceparent"]) == trace_id_of(caller)
    # A span of ours in the trace answered: the request's, or FastAPI's endpoint span under it.
    assert headers["traceparent"] != caller and trace_id_of(response.headers["traceparent"]) == trace_id_of(caller)


async def test_one_notify_per_transaction_and_again_after_a_rolled_back_savepoint(scratch, infra):
    outbox = Outbox(scratch.outbox_table)
    heard: list[str] = []
    listener = await asyncpg.connect(asyncpg_dsn(infra.database_url))
    await listener.add_listener(outbox.channel, lambda *args: heard.append(args[2]))
    try:
        async with session_scope(scratch.sessions) as session:
            for n in range(3):  # a consumer batch whose handlers each add an event
                await outbox.add(session, dispute_received(scratch.dispute_id(n), n))
            with pytest.raises(Boom):
                async with session.begin_nested():
                    await outbox.add(session, dispute_received(scratch.dispute_id(9), 9))
                    raise Boom
        await asyncio.sleep(0.3)
        assert heard == [outbox.channel]

        heard.clear()
        async with session_scope(scratch.sessions) as session:
            with pytest.raises(Boom):
                async with session.begin_nested():
                    await outbox.add(session, dispute_received(scratch.dispute_id(10), 10))
                    raise Boom
            await outbox.add(session, dispute_received(scratch.dispute_id(11), 11))  # must notify again
        await asyncio.sleep(0.3)
        assert heard == [outbox.channel]
        async with session_scope(scratch.sessions) as session:
            assert await outbox.backlog(session) == 4
    finally:
        await listener.close()
