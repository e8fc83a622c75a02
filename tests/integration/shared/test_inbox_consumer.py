"""The inbox-guarded consumer, DLQ and lag, against real PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import func, select

from shared.contracts.topics import dlq_topic
from shared.db.inbox import Inbox
from shared.db.session import session_scope
from shared.kafka.apply import Incoming, apply_events
from shared.kafka.consumer import EventConsumer
from shared.kafka.dlq import read_dead_letters, replay_dead_letters
from shared.kafka.lag import LagMonitor, LagReader
from shared.metrics import BackboneMetrics
from shared.settings import ServiceSettings
from tests.support import dispute_received, eventually, recording_handler, running

SCHEMA = "dispute.received/v1"


def make_consumer(scratch, kafka, producer, topic, handler, *, group=None, metrics=None, **kw):
    return EventConsumer(
        service="test",
        context=None,
        group_id=group or f"g-{scratch.schema}",
        handlers={SCHEMA: handler},
        sessions=scratch.sessions,
        inbox_table=scratch.inbox_table,
        producer=producer,
        bootstrap_servers=kafka,
        topics=[topic],
        settings=ServiceSettings(consumer_max_attempts=3, consumer_retry_backoff_ms=10),
        metrics=metrics,
        **kw,
    )


async def handled_seqs(scratch) -> list[int]:
    async with session_scope(scratch.sessions) as session:
        return sorted((await session.execute(select(scratch.handled.c.seq))).scalars())


class SimulatedCrash(Exception):
    pass


async def crash_after_database_commit(offsets) -> None:
    """The process dies (as far as Kafka knows) after the database commit, before the offset commit."""
    raise SimulatedCrash(dict(offsets))


async def test_crash_between_database_commit_and_offset_commit_applies_each_event_once(scratch, kafka, producer, topic):
    events = [dispute_received(scratch.dispute_id(i % 4), i) for i in range(30)]
    for e in events:
        await producer.send_and_wait(topic, e.to_bytes(), key=e.key)
    handler = recording_handler(scratch.handled, only_prefix=scratch.prefix)
    group = f"g-{scratch.schema}"

    crashing = make_consumer(
        scratch, kafka, producer, topic, handler, group=group, after_database_commit=crash_after_database_commit
    )
    await crashing.start()
    with pytest.raises(SimulatedCrash):
        await asyncio.wait_for(crashing.run(), 30)
    applied_before_crash = len(await handled_seqs(scratch))
    assert applied_before_crash > 0

    metrics = BackboneMetrics()
    async with running(make_consumer(scratch, kafka, producer, topic, handler, group=group, metrics=metrics)):
        await eventually(lambda: _count_is(scratch, 30))
        # The crashed batch is redelivered (its offsets never reached Kafka) and recognised as applied.
        await eventually(lambda: _metric(metrics, "dd_events_handled_total", outcome="duplicate", want=1))
        await asyncio.sleep(1)  # room for a late duplicate to show up

    assert await handled_seqs(scratch) == list(range(30))
    duplicates = await _metric(metrics, "dd_events_handled_total", outcome="duplicate", want=None)
    assert duplicates == applied_before_crash


async def test_apply_events_claims_and_handles_an_envelope_without_kafka(scratch):
    handler = recording_handler(scratch.handled, only_prefix=scratch.prefix)
    inbox = Inbox(scratch.inbox_table, consumer="harness")
    first, second = dispute_received(scratch.dispute_id(1), 1), dispute_received(scratch.dispute_id(1), 2)
    async with session_scope(scratch.sessions) as session:
        outcomes = await apply_events(
            session, inbox, {SCHEMA: handler}, [Incoming.of(first), Incoming.of(first)], context=None
        )
    assert outcomes == ["handled", "duplicate"]
    async with session_scope(scratch.sessions) as session:
        outcomes = await apply_events(
            session, inbox, {SCHEMA: handler}, [Incoming.of(first), Incoming.of(second)], context=None
        )
    assert outcomes == ["duplicate", "handled"]
    assert await handled_seqs(scratch) == [1, 2]


async def test_poison_message_goes_to_dlq_after_retries_next_is_handled_and_replay_works(
    scratch, kafka, producer, topic
):
    broken = {"seq": 3}
    record = recording_handler(scratch.handled, only_prefix=scratch.prefix)

    async def flaky(session, event, ctx):
        if int(event.data.notice_id.split("-")[1]) == broken["seq"]:
            raise RuntimeError("tracking service said no")
        await record(session, event, ctx)

    key = scratch.dispute_id(1).encode()
    await producer.send_and_wait(topic, dispute_received(scratch.dispute_id(1), 1).to_bytes(), key=key)
    await producer.send_and_wait(topic, b"{not json", key=key)
    await producer.send_and_wait(topic, dispute_received(scratch.dispute_id(1), 3).to_bytes(), key=key)
    await producer.send_and_wait(topic, dispute_received(scratch.dispute_id(1), 4).to_bytes(), key=key)

    group = f"g-{scratch.schema}"
    async with running(make_consumer(scratch, kafka, producer, topic, flaky, group=group)):
        await eventually(lambda: _seqs_are(scratch, [1, 4]))
        letters = await eventually(lambda: _letters(kafka, topic, 2))

    by_type = {x.headers["dd-error-type"]: x for x in letters}
    assert set(by_type) == {"EventParseError", "RuntimeError"}
    assert by_type["EventParseError"].headers["dd-attempts"] == "1"  # never retried: it cannot improve
    assert by_type["RuntimeError"].headers["dd-attempts"] == "3"
    assert by_type["RuntimeError"].headers["dd-service"] == "test"
    assert by_type["RuntimeError"].headers["dd-original-topic"] == topic
    assert "tracking service said no" in by_type["RuntimeError"].error

    broken["seq"] = None  # the cause is fixed; replay the failed event
    assert await replay_dead_letters(producer, [by_type["RuntimeError"]]) == 1
    async with running(make_consumer(scratch, kafka, producer, topic, flaky, group=group)):
        await eventually(lambda: _seqs_are(scratch, [1, 3, 4]))
        # Replaying it again changes nothing: the inbox has it.
        await replay_dead_letters(producer, [by_type["RuntimeError"]])
        await asyncio.sleep(2)
    assert await handled_seqs(scratch) == [1, 3, 4]


async def test_lag_of_a_paused_consumer_is_produced_minus_consumed_per_partition(scratch, kafka, producer, topic):
    handler = recording_handler(scratch.handled, only_prefix=scratch.prefix)
    group = f"g-{scratch.schema}"

    async def produce(seqs) -> Counter:
        per_partition: Counter = Counter()
        for i in seqs:
            e = dispute_received(scratch.dispute_id(i % 7), i)
            meta = await producer.send_and_wait(topic, e.to_bytes(), key=e.key)
            per_partition[meta.partition] += 1
        return per_partition

    await produce(range(20))
    async with running(make_consumer(scratch, kafka, producer, topic, handler, group=group)):
        await eventually(lambda: _count_is(scratch, 20))
    unconsumed = await produce(range(20, 45))  # the consumer is paused now

    reader = LagReader(kafka)
    await reader.start()
    try:
        metrics = BackboneMetrics()
        rows = await LagMonitor(reader, {group: [topic]}, metrics).snapshot()
    finally:
        await reader.stop()
    assert {r.partition: r.lag for r in rows} == {p: unconsumed.get(p, 0) for p in range(3)}
    exported = [
        metrics.registry.get_sample_value(
            "kafka_consumergroup_lag", {"consumergroup": group, "topic": topic, "partition": str(p)}
        )
        for p in range(3)
    ]
    assert exported == [unconsumed.get(p, 0) for p in range(3)] and sum(exported) == 25


async def _count_is(scratch, n: int) -> bool:
    async with session_scope(scratch.sessions) as session:
        return (await session.execute(select(func.count()).select_from(scratch.handled))).scalar_one() >= n


async def _seqs_are(scratch, seqs: list[int]) -> bool:
    return await handled_seqs(scratch) == seqs


async def _letters(kafka, topic, n):
    letters = await read_dead_letters(kafka, [dlq_topic(topic)])
    return letters if len(letters) >= n else None


async def _metric(metrics, name, *, outcome, want):
    total = sum(
        s.value
        for m in metrics.registry.collect()
        for s in m.samples
        if s.name == name and s.labels.get("outcome") == outcome
    )
    return total if want is None else total >= want


async def test_members_joining_and_leaving_mid_stream_lose_and_repeat_nothing(scratch, kafka, producer, topic):
    handler = recording_handler(scratch.handled, only_prefix=scratch.prefix)
    group = f"g-{scratch.schema}"
    total = 300

    async def produce() -> None:
        for i in range(total):
            e = dispute_received(scratch.dispute_id(i % 11), i)
            await producer.send_and_wait(topic, e.to_bytes(), key=e.key)
            await asyncio.sleep(0.01)

    early = running(make_consumer(scratch, kafka, producer, topic, handler, group=group))
    late = running(make_consumer(scratch, kafka, producer, topic, handler, group=group))
    producing = asyncio.create_task(produce())
    await early.__aenter__()
    await eventually(lambda: _count_is(scratch, total // 3), timeout_s=60)
    await late.__aenter__()  # joins: partitions move while batches are in flight
    await eventually(lambda: _count_is(scratch, 2 * total // 3), timeout_s=60)
    await early.__aexit__()  # leaves gracefully: its partitions move to `late`
    await producing
    await eventually(lambda: _count_is(scratch, total), timeout_s=60)
    await asyncio.sleep(1)  # room for a late duplicate to show up
    await late.__aexit__()
    assert await handled_seqs(scratch) == list(range(total))
