"""Backbone benchmark: outbox relay and inbox-guarded consumer against raw aiokafka, same run.

    make bench            (or: python -m bench.backbone --events 20000)

Starts its own PostgreSQL and Kafka (deploy/local, bench ports, `.local/bench`), then measures
with 1 KB events:
  raw produce      aiokafka producer (idempotent, acks=all), send + await all
  relay            outbox rows already committed -> OutboxRelay.publish_batch until empty
  raw consume      aiokafka consumer, getmany + offset commit per batch
  inbox consume    EventConsumer (inbox claim + no-op handler + DB commit + offset commit)
Goals (issue 3): relay >= 30 % of raw produce; inbox consume >= 10 % of raw consume.
Results are printed and appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import uvloop
from aiokafka import AIOKafkaConsumer
from sqlalchemy import func, select, text

from deploy.local.infra import REPO, LocalInfra
from shared.contracts import topics
from shared.db.engine import create_engine, session_factory
from shared.db.outbox import Outbox
from shared.db.session import session_scope
from shared.kafka.consumer import EventConsumer
from shared.kafka.producer import KafkaProducer, create_producer
from shared.kafka.relay import OutboxRelay
from shared.kafka.topics import ensure_topics
from shared.settings import ServiceSettings
from tests.conftest import scratch_tables
from tests.support import dispute_received

T = TypeVar("T")
RESULTS = Path(__file__).with_name("RESULTS.md")
TOPIC = topics.DISPUTE_RECEIVED


def one_kb_events(n: int, prefix: str):
    sample = dispute_received(f"{prefix}-00000", 0)
    padding = max(0, 1024 - len(sample.to_bytes()))
    return [dispute_received(f"{prefix}-{i % 500:05d}", i, padding=padding) for i in range(n)]


async def raw_produce(bootstrap: str, events) -> float:
    producer = create_producer(bootstrap, client_id="bench-raw")
    await producer.start()
    try:
        payloads = [(e.to_bytes(), e.key) for e in events]
        started = time.perf_counter()
        futures = [await producer.send(TOPIC, value, key=key) for value, key in payloads]
        await asyncio.gather(*futures)
        return len(payloads) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def relay_rate(bootstrap: str, database_url: str, sessions, outbox_table, events) -> float:
    outbox = Outbox(outbox_table)
    for i in range(0, len(events), 1000):  # setup, not timed
        async with session_scope(sessions) as session:
            await outbox.add(session, *events[i : i + 1000])
    settings = ServiceSettings(database_url=database_url, kafka_bootstrap_servers=bootstrap)
    producer = KafkaProducer.from_settings(settings, client_id="bench-relay")
    await producer.start()
    try:
        relay = OutboxRelay(outbox_table=outbox_table, producer=producer, settings=settings)
        started = time.perf_counter()
        published = 0
        while n := await relay.publish_batch():
            published += n
        assert published == len(events), (published, len(events))
        return published / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def raw_consume(bootstrap: str, expected: int) -> float:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        max_poll_records=500,
    )
    await consumer.start()
    try:
        seen = 0
        started = None
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            if batch and started is None:
                started = time.perf_counter()  # time from the first record: the group join is not the subject
            seen += sum(len(v) for v in batch.values())
            if batch:
                await consumer.commit()
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def inbox_consume(bootstrap: str, sessions, inbox_table, expected: int) -> float:
    first: list[float] = []

    async def no_op(session, event, ctx) -> None:
        if not first:
            first.append(time.perf_counter())

    producer = create_producer(bootstrap, client_id="bench-dlq")
    await producer.start()
    consumer = EventConsumer(
        service="bench",
        context=None,
        group_id=f"bench-inbox-{uuid.uuid4().hex[:6]}",
        handlers={f"{TOPIC}/v1": no_op},
        sessions=sessions,
        inbox_table=inbox_table,
        producer=producer,
        bootstrap_servers=bootstrap,
        settings=ServiceSettings(kafka_max_poll_records=500),
    )
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    try:
        while True:
            async with session_scope(sessions) as session:
                done = (await session.execute(select(func.count()).select_from(inbox_table))).scalar_one()
            if done >= expected:
                return done / (time.perf_counter() - first[0])
            await asyncio.sleep(0.05)
    finally:
        consumer.request_stop()
        await task
        await producer.stop()


async def run(events_n: int, infra: LocalInfra) -> dict[str, float]:
    bootstrap, database_url = infra.kafka_bootstrap_servers, infra.database_url
    await ensure_topics(bootstrap)
    schema = f"bench_{uuid.uuid4().hex[:6]}"
    metadata, outbox_table, inbox_table, _ = scratch_tables(schema)
    engine = create_engine(database_url, pool_size=5)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    sessions = session_factory(engine)
    try:
        raw_p = await raw_produce(bootstrap, one_kb_events(events_n, "RAW"))
        relay = await relay_rate(bootstrap, database_url, sessions, outbox_table, one_kb_events(events_n, "RELAY"))
        total = 2 * events_n  # both runs' events are on the topic; each consumer reads them all
        raw_c = await raw_consume(bootstrap, total)
        inbox_c = await inbox_consume(bootstrap, sessions, inbox_table, total)
        return {"raw_produce": raw_p, "relay": relay, "raw_consume": raw_c, "inbox_consume": inbox_c}
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


def report(rates: dict[str, float], events_n: int) -> str:
    relay_ratio = rates["relay"] / rates["raw_produce"]
    inbox_ratio = rates["inbox_consume"] / rates["raw_consume"]
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {events_n} events of 1 KB, {platform.machine()}, "
        f"{__import__('os').cpu_count()} cores",
        "",
        "| path | events/s | ratio | goal |",
        "|---|---:|---:|---:|",
        f"| raw aiokafka produce | {rates['raw_produce']:,.0f} | | |",
        f"| outbox relay | {rates['relay']:,.0f} | {relay_ratio:.0%} of raw produce | ≥ 30 % "
        f"{'met' if relay_ratio >= 0.30 else 'NOT met'} |",
        f"| raw aiokafka consume (commit per batch) | {rates['raw_consume']:,.0f} | | |",
        f"| inbox-guarded consume | {rates['inbox_consume']:,.0f} | {inbox_ratio:.0%} of raw consume | ≥ 10 % "
        f"{'met' if inbox_ratio >= 0.10 else 'NOT met'} |",
        "",
    ]
    return "\n".join(lines)


def bench_infra() -> LocalInfra:
    """The benchmarks' own servers: `.local/bench`, ports from DD_BENCH_* (defaults below 32768)."""
    return LocalInfra.from_env(
        root=REPO / ".local" / "bench", prefix="DD_BENCH_", pg_port=15452, kafka_port=19112, kafka_controller_port=19113
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def on_bench_servers(work: Callable[[LocalInfra], Awaitable[T]], *, keep: bool = False) -> T:
    """Run `work` on fresh bench servers (PostgreSQL and Kafka under `.local/bench`, DD_BENCH_* ports)
    on the event loop the services run on (uvicorn picks uvloop); destroyed after unless `keep`."""
    infra = bench_infra()
    infra.destroy()
    infra.up()
    try:
        return uvloop.run(work(infra))
    finally:
        if not keep:
            infra.destroy()


def record_report(text_: str, *, append: bool = True) -> None:
    """Print a bench's report and (unless told not to) append it to bench/RESULTS.md."""
    print(text_)
    if append:
        append_results(text_)


def add_http_port_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("DD_BENCH_HTTP_PORT", "58201")),
        help="first HTTP port of the servers the bench starts",
    )


def append_results(text_: str) -> None:
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by `make bench` (bench/backbone.py).\n\n")
    with RESULTS.open("a") as f:
        f.write(text_ + "\n")


def main() -> None:
    from bench import hop_latency

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--no-hops", action="store_true", help="skip the hop-latency benchmark")
    args = parser.parse_args()

    async def both(infra: LocalInfra) -> tuple[dict[str, float], list[tuple[hop_latency.Figures, int]] | None]:
        return await run(args.events, infra), None if args.no_hops else await hop_latency.run(infra)

    rates, hops = on_bench_servers(both)
    record_report(report(rates, args.events))
    if hops is not None:
        record_report(hop_latency.report(hops))


if __name__ == "__main__":
    main()
