"""One hop through the inbox-guarded consumer: time from producing an event to its handler running.

    python -m bench.consumer_hop [--events 300]

Starts its own PostgreSQL and Kafka (bench ports, `.local/bench`). Events are sent one at a
time, each once the previous one was handled, so whatever the consumer still does after a
handler (database commit, offset commit) delays the next event: a slow offset commit shows.
Then times bare offset commits (the broker's group-coordinator linger shows there).
Prints p50/p90/p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text

from deploy.local.infra import REPO, LocalInfra
from shared.contracts import topics
from shared.db.engine import create_engine, session_factory
from shared.kafka.consumer import EventConsumer
from shared.kafka.producer import create_producer
from shared.kafka.topics import ensure_topics
from shared.settings import ServiceSettings
from tests.conftest import scratch_tables
from tests.support import dispute_received

TOPIC = topics.DISPUTE_RECEIVED


async def measure(infra: LocalInfra, events_n: int) -> list[float]:
    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap)
    schema = f"hop_{uuid.uuid4().hex[:6]}"
    metadata, _, inbox_table, _ = scratch_tables(schema)
    engine = create_engine(infra.database_url, pool_size=5)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    handled: asyncio.Queue[float] = asyncio.Queue()

    async def record(session, event, ctx) -> None:
        if event.subject.startswith("HOP"):
            handled.put_nowait(time.perf_counter())

    producer = create_producer(bootstrap, client_id="bench-hop")
    await producer.start()
    consumer = EventConsumer(
        service="bench",
        context=None,
        group_id=f"bench-hop-{uuid.uuid4().hex[:6]}",
        handlers={f"{TOPIC}/v1": record},
        sessions=session_factory(engine),
        inbox_table=inbox_table,
        producer=producer,
        bootstrap_servers=bootstrap,
        settings=ServiceSettings(),
        topics=[TOPIC],
    )
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    latencies = []
    try:
        for i in range(events_n + 20):  # the first 20 warm up (group join, connections)
            event = dispute_received(f"HOP-{i % 7:05d}", i)
            sent = time.perf_counter()
            await producer.send_and_wait(TOPIC, event.to_bytes(), key=event.key)
            done = await asyncio.wait_for(handled.get(), 30)
            if i >= 20:
                latencies.append((done - sent) * 1000)
    finally:
        consumer.request_stop()
        await task
        await producer.stop()
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()
    return latencies


async def commit_round_trips(bootstrap: str, n: int = 200) -> list[float]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=f"bench-commit-{uuid.uuid4().hex[:6]}")
    await consumer.start()
    tp = TopicPartition(TOPIC, 0)
    consumer.assign([tp])
    try:
        await consumer.commit({tp: 0})  # finds the coordinator
        took = []
        for i in range(n):
            started = time.perf_counter()
            await consumer.commit({tp: i % 2})
            took.append((time.perf_counter() - started) * 1000)
        return took
    finally:
        await consumer.stop()


def _quantiles(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100)
    return f"p50 {q[49]:.1f} ms, p90 {q[89]:.1f} ms, p99 {q[98]:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()
    infra = LocalInfra.from_env(
        root=REPO / ".local" / "bench", prefix="DD_BENCH_", pg_port=15452, kafka_port=19112, kafka_controller_port=19113
    )
    infra.destroy()
    infra.up()
    try:
        latencies = asyncio.run(measure(infra, args.events))
        commits = asyncio.run(commit_round_trips(infra.kafka_bootstrap_servers))
    finally:
        infra.destroy()
    print(f"one hop, {len(latencies)} events: {_quantiles(latencies)}")
    print(f"offset commit, {len(commits)} calls: {_quantiles(commits)}")


if __name__ == "__main__":
    main()
