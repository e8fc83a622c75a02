"""The inbox consumer across a real PostgreSQL outage: it waits, it does not dead-letter."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from sqlalchemy import select

from shared.contracts.topics import dlq_topic
from shared.db.session import session_scope
from shared.kafka.dlq import read_dead_letters
from shared.metrics import BackboneMetrics
from tests.integration.shared.test_inbox_consumer import _count_is, _metric, make_consumer
from tests.support import dispute_received, eventually, recording_handler, running

TOTAL = 80
OUTAGE_S = 8.0


@pytest.mark.parametrize("immediate", [False, True], ids=["pg_ctl_fast", "pg_ctl_immediate"])
async def test_postgres_outage_while_events_arrive_dead_letters_nothing_and_keeps_order(
    infra,
    kafka,
    scratch,
    producer,
    topic,
    immediate,
):
    if infra.local is None:
        pytest.fail("this test stops PostgreSQL; run it against the project's local servers")
    handler = recording_handler(scratch.handled, only_prefix=scratch.prefix)
    metrics = BackboneMetrics()
    # Three attempts 10 ms apart: before the fix an outage spent them in well under a second.
    consumer = make_consumer(scratch, kafka, producer, topic, handler, metrics=metrics)

    async def produce() -> None:
        for i in range(TOTAL):
            e = dispute_received(scratch.dispute_id(i % 5), i)
            await producer.send_and_wait(topic, e.to_bytes(), key=e.key)
            await asyncio.sleep(0.15)  # ~12 s of traffic, the outage in the middle of it

    async with running(consumer):
        producing = asyncio.create_task(produce())
        await eventually(lambda: _count_is(scratch, 10), timeout_s=30)
        await asyncio.to_thread(infra.local.stop_postgres, immediate=immediate)
        stopped = time.monotonic()
        try:
            await asyncio.sleep(OUTAGE_S)
        finally:
            await asyncio.to_thread(infra.local.start_postgres)
        assert time.monotonic() - stopped >= OUTAGE_S
        await producing
        await eventually(lambda: _count_is(scratch, TOTAL), timeout_s=60)
        await asyncio.sleep(1)  # room for a late duplicate to show up

    async with session_scope(scratch.sessions) as session:
        h = scratch.handled
        rows = (await session.execute(select(h.c.dispute_id, h.c.seq).order_by(h.c.id))).all()
    assert sorted(seq for _, seq in rows) == list(range(TOTAL))  # each event applied exactly once
    for dispute, applied in itertools.groupby(sorted(rows, key=lambda r: r[0]), key=lambda r: r[0]):
        seqs = [seq for _, seq in applied]  # sorted() is stable: still in order of application
        assert seqs == sorted(seqs), f"{dispute} applied out of order: {seqs}"
    assert await _metric(metrics, "dd_events_handled_total", outcome="dead_lettered", want=None) == 0
    assert await read_dead_letters(kafka, [dlq_topic(topic)]) == []
