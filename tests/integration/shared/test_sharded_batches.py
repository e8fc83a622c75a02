"""A fetched batch applied in concurrent transactions split by dispute (`consumer_concurrency`),
against real PostgreSQL and Kafka: each event once, each dispute's events in order, a failure
kept to its own shard, and a PostgreSQL restart mid-batch losing and repeating nothing."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict

import pytest
from sqlalchemy import select, text

from shared.contracts.topics import dlq_topic
from shared.db.session import session_scope
from shared.kafka.consumer import EventConsumer
from shared.kafka.dlq import read_dead_letters
from shared.metrics import BackboneMetrics
from shared.settings import ServiceSettings
from tests.integration.shared.test_inbox_consumer import SCHEMA, _count_is, _metric
from tests.support import dispute_received, eventually, recording_handler, running

DISPUTES = 12
EVENTS = 240


def sharded_consumer(scratch, kafka, producer, topic, handler, *, concurrency: int, metrics=None) -> EventConsumer:
    return EventConsumer(
        service="test",
        context=None,
        group_id=f"g-{scratch.schema}",
        handlers={SCHEMA: handler},
        sessions=scratch.sessions,
        inbox_table=scratch.inbox_table,
        producer=producer,
        bootstrap_servers=kafka,
        topics=[topic],
        settings=ServiceSettings(
            consumer_concurrency=concurrency, consumer_max_attempts=3, consumer_retry_backoff_ms=10
        ),
        metrics=metrics,
    )


async def backlog(scratch, producer, topic) -> None:
    """EVENTS events of DISPUTES disputes, produced before any consumer runs: full batches."""
    for i in range(EVENTS):
        e = dispute_received(scratch.dispute_id(i % DISPUTES), i)
        await producer.send(topic, e.to_bytes(), key=e.key)
    await producer.flush()


async def transactions_log(scratch) -> None:
    async with scratch.sessions() as session, session.begin():
        await session.execute(
            text(
                f'CREATE TABLE "{scratch.schema}".applied_in '
                "(seq int, txid bigint, started timestamptz, at timestamptz)"
            )
        )


def logging_transactions(scratch, record, *, pause_s: float = 0.0):
    """The recording handler, also logging which transaction applied each event and when."""

    async def handle(session, event, ctx):
        await record(session, event, ctx)
        await session.execute(
            text(
                f'INSERT INTO "{scratch.schema}".applied_in '
                "VALUES (:seq, txid_current(), transaction_timestamp(), clock_timestamp())"
            ),
            {"seq": int(event.data.notice_id.split("-")[1])},
        )
        await asyncio.sleep(pause_s)  # an I/O-bound handler: what shards overlap

    return handle


async def applied_in_order(scratch) -> list[tuple[str, int]]:
    """(dispute, seq) in order of application; fails if an event was applied twice or a dispute out of order."""
    async with session_scope(scratch.sessions) as session:
        h = scratch.handled
        rows = (await session.execute(select(h.c.dispute_id, h.c.seq).order_by(h.c.id))).all()
    seqs = [seq for _, seq in rows]
    assert len(seqs) == len(set(seqs)), "an event was applied twice"
    for dispute, applied in itertools.groupby(sorted(rows, key=lambda r: r[0]), key=lambda r: r[0]):
        order = [seq for _, seq in applied]  # sorted() is stable: still in order of application
        assert order == sorted(order), f"{dispute} applied out of order: {order}"
    return [(d, s) for d, s in rows]


async def overlapping_transactions(scratch) -> list[tuple[int, int]]:
    """Pairs of the transactions that applied events which ran at the same time."""
    async with session_scope(scratch.sessions) as session:
        spans = (
            await session.execute(
                text(f'SELECT txid, min(started), max(at) FROM "{scratch.schema}".applied_in GROUP BY txid')
            )
        ).all()
    return [(a[0], b[0]) for a, b in itertools.combinations(spans, 2) if a[1] < b[2] and b[1] < a[2]]


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_a_batch_in_concurrent_shards_applies_each_event_once_in_dispute_order(
    scratch, kafka, producer, topic, concurrency
):
    await transactions_log(scratch)
    await backlog(scratch, producer, topic)
    handler = logging_transactions(
        scratch, recording_handler(scratch.handled, only_prefix=scratch.prefix), pause_s=0.002
    )
    metrics = BackboneMetrics()
    async with running(
        sharded_consumer(scratch, kafka, producer, topic, handler, concurrency=concurrency, metrics=metrics)
    ):
        await eventually(lambda: _count_is(scratch, EVENTS), timeout_s=60)
        await asyncio.sleep(0.5)  # room for a late duplicate to show up
    assert sorted(seq for _, seq in await applied_in_order(scratch)) == list(range(EVENTS))
    async with session_scope(scratch.sessions) as session:
        keys_of = defaultdict(set)
        for seq, txid in (await session.execute(text(f'SELECT seq, txid FROM "{scratch.schema}".applied_in'))).all():
            keys_of[txid].add(seq % DISPUTES)
    # Shards split by dispute: no dispute's events in two transactions running at once.
    overlaps = await overlapping_transactions(scratch)
    assert all(keys_of[a].isdisjoint(keys_of[b]) for a, b in overlaps)
    if concurrency == 1:
        assert overlaps == []
    else:
        assert overlaps, "the shards of a batch never ran at the same time"
    assert len(keys_of) < EVENTS  # batched, not one transaction per event
    assert await _metric(metrics, "dd_events_handled_total", outcome="handled", want=None) == EVENTS
    assert await _metric(metrics, "dd_events_handled_total", outcome="duplicate", want=None) == 0


async def test_a_failing_event_sends_only_its_own_shard_one_by_one(scratch, kafka, producer, topic):
    broken_seq = 37
    record = recording_handler(scratch.handled, only_prefix=scratch.prefix)

    async def flaky(session, event, ctx):
        if int(event.data.notice_id.split("-")[1]) == broken_seq:
            raise RuntimeError("tracking service said no")
        await record(session, event, ctx)

    await backlog(scratch, producer, topic)
    metrics = BackboneMetrics()
    async with running(sharded_consumer(scratch, kafka, producer, topic, flaky, concurrency=3, metrics=metrics)):
        await eventually(lambda: _count_is(scratch, EVENTS - 1), timeout_s=60)
        letters = await eventually(lambda: read_dead_letters(kafka, [dlq_topic(topic)]), timeout_s=30)
        await asyncio.sleep(0.5)
    applied = await applied_in_order(scratch)
    assert sorted(seq for _, seq in applied) == [s for s in range(EVENTS) if s != broken_seq]
    assert [(x.headers["dd-attempts"], "tracking service said no" in x.error) for x in letters] == [("3", True)]
    # The shards that committed were not applied again nor counted twice.
    assert await _metric(metrics, "dd_events_handled_total", outcome="duplicate", want=None) == 0
    assert await _metric(metrics, "dd_events_handled_total", outcome="handled", want=None) == EVENTS - 1
    assert await _metric(metrics, "dd_events_handled_total", outcome="dead_lettered", want=None) == 1


async def test_postgres_restart_in_the_middle_of_sharded_batches_loses_and_repeats_nothing(
    infra, scratch, kafka, producer, topic
):
    if infra.local is None:
        pytest.fail("this test stops PostgreSQL; run it against the project's local servers")
    await transactions_log(scratch)
    await backlog(scratch, producer, topic)
    handler = logging_transactions(
        scratch, recording_handler(scratch.handled, only_prefix=scratch.prefix), pause_s=0.02
    )
    metrics = BackboneMetrics()
    async with running(sharded_consumer(scratch, kafka, producer, topic, handler, concurrency=3, metrics=metrics)):
        await eventually(lambda: _count_is(scratch, 20), timeout_s=30)
        await asyncio.to_thread(infra.local.stop_postgres, immediate=True)  # shards in flight
        try:
            await asyncio.sleep(3)
        finally:
            await asyncio.to_thread(infra.local.start_postgres)
        await eventually(lambda: _count_is(scratch, EVENTS), timeout_s=90)
        await asyncio.sleep(1)  # room for a late duplicate to show up
    assert sorted(seq for _, seq in await applied_in_order(scratch)) == list(range(EVENTS))
    assert await _metric(metrics, "dd_events_handled_total", outcome="dead_lettered", want=None) == 0
    assert await read_dead_letters(kafka, [dlq_topic(topic)]) == []
