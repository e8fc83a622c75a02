"""Hop latency: outbox → relay → Kafka → inbox consumer, one hop and two chained, beside raw aiokafka
and beside the limit (the work no correct hop can skip, hand-written).

    python -m bench.hop_latency      (also run by `make bench`, after the throughput benchmark)

Everything runs in this one process, so one clock (perf_counter) times every path:
  raw            idempotent acks=all producer send → consumer (manual commit per batch) receives
  limit          the writer commits its row (asyncpg, durable), then produces it (idempotent, acks=all);
                 the consumer receives it and commits its own row, then the offsets: timed from just
                 before the writer's commit to the consumer's receipt, as one hop is
  one hop        just before the writer's commit → the handler of service A starts
  two hops       A's handler writes a second event through its own outbox in its transaction →
                 A's relay → the handler of service B starts (timed from the writer's commit too)
Each service has its own schema (outbox + inbox), relay, producer and consumer, as in production.
At each rate the writer sends one event per transaction on a fixed schedule for DURATION_S.
Goals (issue 6): one hop p99 ≤ 1.5 × raw p99; two hops p99 ≤ 60 ms at 300 events/s.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from deploy.local.infra import LocalInfra
from shared.contracts import DeadlineScheduledV1, Envelope, new_event, parse_event, topics
from shared.db.backbone import backbone_tables
from shared.db.engine import create_engine, session_factory
from shared.db.outbox import Outbox
from shared.db.session import session_scope
from shared.kafka.consumer import EventConsumer
from shared.kafka.producer import KafkaProducer, create_producer
from shared.kafka.relay import OutboxRelay
from shared.kafka.topics import ensure_topics
from shared.settings import ServiceSettings
from shared.web.app import GC_THRESHOLD_0
from tests.support import dispute_received

RATES = (50, 300)
DURATION_S = float(os.environ.get("BENCH_HOP_DURATION_S", "10"))
HOP1_TOPIC = topics.DISPUTE_RECEIVED
HOP2_TOPIC = topics.DEADLINE_SCHEDULED
RAW_TOPIC = topics.VERDICT_RETURNED  # nothing else writes it during a bench run


@dataclass
class Figures:
    path: str
    rate: int
    samples: list[float]  # seconds

    def quantile(self, q: int) -> float:
        return statistics.quantiles(self.samples, n=100, method="inclusive")[q - 1] if len(self.samples) > 1 else 0.0

    @property
    def p50(self) -> float:
        return self.quantile(50)

    @property
    def p99(self) -> float:
        return self.quantile(99)


def plain_consumer(bootstrap: str, topic: str, *, group: str, offset_reset: str) -> AIOKafkaConsumer:
    """A consumer outside the services (manual commits, a group of its own), fetching with the services' wait."""
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{group}-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset=offset_reset,
        fetch_max_wait_ms=ServiceSettings().kafka_fetch_max_wait_ms,  # the same knob as EventConsumer
    )


async def paced(rate: float, duration_s: float, send: Callable[[int], Awaitable[None]]) -> int:
    """Call send(seq) on a fixed schedule; returns how many were sent."""
    count = int(rate * duration_s)
    start = time.perf_counter()
    for seq in range(count):
        delay = start + seq / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(seq)
    return count


async def until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.02)
    return check()


# ---------------------------------------------------------------- raw aiokafka


async def raw(bootstrap: str, rate: int) -> Figures:
    prefix = f"RAW-{uuid.uuid4().hex[:6]}-".encode()
    sent: dict[bytes, float] = {}
    received: dict[bytes, float] = {}
    producer = create_producer(bootstrap, client_id="bench-hop-raw")
    consumer = plain_consumer(bootstrap, RAW_TOPIC, group="bench-hop-raw", offset_reset="earliest")
    await producer.start()
    await consumer.start()

    async def consume() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    if r.value.startswith(prefix):
                        received.setdefault(r.value, now)
            if batch:
                await consumer.commit()

    async def send(seq: int, tag: str = "") -> None:
        value = prefix + f"{tag}{seq}".encode()
        sent[value] = time.perf_counter()
        await producer.send(RAW_TOPIC, value, key=value)

    task = asyncio.create_task(consume())
    try:
        await _warm_up(lambda n: send(n, "w"), lambda: bool(received))
        received.clear()
        sent.clear()
        _freeze_heap()
        await paced(rate, DURATION_S, send)
        await until(lambda: len(received) >= len(sent), 30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()
        await producer.stop()
    return Figures("raw aiokafka produce → consume", rate, [received[v] - t for v, t in sent.items() if v in received])


# ---------------------------------------------------------------- the limit


async def limit(infra: LocalInfra, rate: int) -> Figures:
    """Commit a row, produce it, consume it and commit the consumer's row: no outbox, relay or inbox."""
    import asyncpg  # only here: the services reach asyncpg through SQLAlchemy

    bootstrap = infra.kafka_bootstrap_servers
    dsn = infra.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    prefix = f"LIMIT-{uuid.uuid4().hex[:6]}-".encode()
    committing: dict[bytes, float] = {}
    received: dict[bytes, float] = {}
    writer = await asyncpg.create_pool(dsn, min_size=10, max_size=10)  # sends overlap at the higher rates
    reader = await asyncpg.connect(dsn)
    await writer.execute(
        "CREATE SCHEMA IF NOT EXISTS bench_limit;"
        "CREATE TABLE IF NOT EXISTS bench_limit.hop_out (value bytea PRIMARY KEY);"
        "CREATE TABLE IF NOT EXISTS bench_limit.hop_in (value bytea PRIMARY KEY)"
    )
    producer = create_producer(bootstrap, client_id="bench-hop-limit")
    consumer = plain_consumer(bootstrap, RAW_TOPIC, group="bench-hop-limit", offset_reset="earliest")
    await producer.start()
    await consumer.start()

    async def consume() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            values = [r.value for records in batch.values() for r in records if r.value.startswith(prefix)]
            for value in values:
                received.setdefault(value, now)
            if values:  # the consumer's row, durably, before its offsets: at-least-once, nothing lost
                await reader.executemany(
                    "INSERT INTO bench_limit.hop_in VALUES ($1) ON CONFLICT DO NOTHING", [(v,) for v in values]
                )
            if batch:
                await consumer.commit()

    async def send(seq: int, tag: str = "") -> None:
        value = prefix + f"{tag}{seq}".encode()
        committing[value] = time.perf_counter()
        await writer.execute("INSERT INTO bench_limit.hop_out VALUES ($1)", value)  # its own durable commit
        await producer.send_and_wait(RAW_TOPIC, value, key=value)

    task = asyncio.create_task(consume())
    try:
        await _warm_up(lambda n: send(n, "w"), lambda: bool(received))
        received.clear()
        committing.clear()
        _freeze_heap()
        # Each send on the schedule, overlapping when one takes longer than the interval (as requests would).
        pending: set[asyncio.Task[None]] = set()

        async def paced_send(seq: int) -> None:
            job = asyncio.create_task(send(seq))
            pending.add(job)
            job.add_done_callback(pending.discard)

        await paced(rate, DURATION_S, paced_send)
        await asyncio.gather(*pending)
        await until(lambda: len(received) >= len(committing), 30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()
        await producer.stop()
        await writer.close()
        await reader.close()
    samples = [received[v] - t for v, t in committing.items() if v in received]
    return Figures("limit: commit row → idempotent produce → consume + commit row", rate, samples)


def _freeze_heap() -> None:
    """As a service does once started (shared/web/app.py): what exists now is never scanned again,
    and the young generation is collected less often, so the collector's pauses stay short and
    rare. Applied to the raw path too, to compare like with like."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD_0, *gc.get_threshold()[1:])


async def _warm_up(send: Callable[[int], Awaitable[None]], arrived: Callable[[], bool], timeout_s: float = 60) -> None:
    """Send until something arrives: the group has joined and any backlog on the topic is read."""
    deadline = time.monotonic() + timeout_s
    n = 0
    while not arrived():
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing arrived within {timeout_s:.0f} s of warm-up")
        await send(n)
        n += 1
        await until(arrived, 0.2)
    await asyncio.sleep(0.5)  # let the warm-up tail pass


# ---------------------------------------------------------------- outbox hops


@dataclass
class Service:
    """One service's schema, outbox and relay (with its own producer)."""

    schema: str
    sessions: async_sessionmaker[AsyncSession]
    outbox: Outbox
    inbox_table: object
    relay: OutboxRelay | None = None


async def hops(infra: LocalInfra, rate: int) -> tuple[Figures, Figures, Figures]:
    bootstrap, database_url = infra.kafka_bootstrap_servers, infra.database_url
    run = uuid.uuid4().hex[:6]
    prefix = f"HOP-{run}"
    engine = create_engine(database_url, pool_size=10, application_name="bench-hop")
    sessions = session_factory(engine)
    services: dict[str, Service] = {}
    for name in ("origin", "a", "b"):
        metadata = MetaData(schema=f"hop_{run}_{name}")
        outbox, inbox = backbone_tables(metadata)
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{metadata.schema}"'))
            await conn.run_sync(metadata.create_all)
        services[name] = Service(metadata.schema, sessions, Outbox(outbox), inbox)

    committed: dict[int, float] = {}  # seq -> just before the writer's commit
    hop1: dict[int, float] = {}
    seen: dict[int, float] = {}  # seq -> when a plain consumer of the first topic received it
    hop2: dict[int, float] = {}
    seq_of_second: dict[uuid.UUID, int] = {}

    def seq_of(event: Envelope) -> int | None:
        if not event.subject.startswith(prefix):
            return None  # another run's event still on the topic
        return int(event.data.notice_id.removeprefix("N-"))  # warm-up events have negative seqs

    async def handle_a(session: AsyncSession, event: Envelope, ctx) -> None:
        now = time.perf_counter()
        seq = seq_of(event)
        if seq is None:
            return
        hop1.setdefault(seq, now)
        second = new_event(
            DeadlineScheduledV1(dispute_id=event.subject, due_at=datetime.now(UTC), business_days=7, rule="computed"),
            source="bench-a",
        )
        seq_of_second[second.id] = seq
        await services["a"].outbox.add(session, second)

    async def handle_b(session: AsyncSession, event: Envelope, ctx) -> None:
        now = time.perf_counter()
        if (seq := seq_of_second.get(event.id)) is not None:
            hop2.setdefault(seq, now)

    producers, consumers, tasks = [], [], []
    try:
        for name in ("origin", "a"):
            settings = ServiceSettings(database_url=database_url, kafka_bootstrap_servers=bootstrap)
            producer = KafkaProducer.from_settings(settings, client_id=f"bench-hop-{name}")
            await producer.start()
            producers.append(producer)
            s = services[name]
            s.relay = OutboxRelay(outbox_table=s.outbox.table, producer=producer, settings=settings)
            tasks.append(asyncio.create_task(s.relay.run()))
        for name, topic, handler in (("a", HOP1_TOPIC, handle_a), ("b", HOP2_TOPIC, handle_b)):
            consumer = EventConsumer(
                service=f"bench-{name}",
                context=None,
                group_id=f"bench-hop-{name}-{run}",
                handlers={f"{topic}/v1": handler},
                sessions=sessions,
                inbox_table=services[name].inbox_table,
                producer=producers[0],
                bootstrap_servers=bootstrap,
                settings=ServiceSettings(),
            )
            await consumer.start()
            consumers.append(consumer)
            tasks.append(asyncio.create_task(consumer.run()))
        tasks.append(asyncio.create_task(_observe(bootstrap, prefix, seen)))

        origin = services["origin"]

        async def write(seq: int) -> None:
            async with session_scope(sessions) as session:
                await origin.outbox.add(session, dispute_received(f"{prefix}-{seq % 97:05d}", seq))
                committed[seq] = time.perf_counter()  # the commit follows as the block ends

        await _warm_up(lambda n: write(-1 - n), lambda: bool(hop2))
        for d in (committed, hop1, hop2, seen):
            d.clear()
        _freeze_heap()
        await paced(rate, DURATION_S, write)
        await until(lambda: sum(s >= 0 for s in hop2) >= len(committed), 30)
    finally:
        for consumer in consumers:
            consumer.request_stop()
        await asyncio.sleep(0.3)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for producer in producers:
            await producer.stop()
        async with engine.begin() as conn:
            for s in services.values():
                await conn.execute(text(f'DROP SCHEMA "{s.schema}" CASCADE'))
        await engine.dispose()
    return (
        Figures("one hop (outbox → relay → inbox consumer)", rate, [hop1[s] - committed[s] for s in hop1 if s >= 0]),
        Figures("two chained hops", rate, [hop2[s] - committed[s] for s in hop2 if s >= 0]),
        Figures(
            "(part of one hop: outbox → relay → plain consumer)",
            rate,
            [seen[s] - committed[s] for s in seen if s >= 0 and s in committed],
        ),
    )


async def _observe(bootstrap: str, prefix: str, seen: dict[int, float]) -> None:
    """A plain consumer beside service A: splits one hop into relay + Kafka and the inbox consumer."""
    consumer = plain_consumer(bootstrap, HOP1_TOPIC, group="bench-hop-observer", offset_reset="latest")
    await consumer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    event = parse_event(r.value)
                    if event.subject.startswith(prefix):
                        seen.setdefault(int(event.data.notice_id.removeprefix("N-")), now)
    finally:
        await consumer.stop()


async def run(infra: LocalInfra, rates: tuple[int, ...] = RATES) -> list[tuple[Figures, int]]:
    """[(figures, events expected)] for raw, one hop and two hops at each rate."""
    await ensure_topics(infra.kafka_bootstrap_servers)
    results = []
    for rate in rates:
        expected = int(rate * DURATION_S)
        results.append((await raw(infra.kafka_bootstrap_servers, rate), expected))
        results.append((await limit(infra, rate), expected))
        one, two, part = await hops(infra, rate)
        results += [(one, expected), (part, expected), (two, expected)]
    return results


def report(results: list[tuple[Figures, int]]) -> str:
    raw_p99 = {f.rate: f.p99 for f, _ in results if f.path.startswith("raw")}
    limit_p99 = {f.rate: f.p99 for f, _ in results if f.path.startswith("limit")}
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — hop latency, {DURATION_S:g} s per rate, "
        f"{platform.machine()}, {os.cpu_count()} cores",
        "",
        "| path | events/s | received | p50 ms | p99 ms | max ms | goal |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for f, expected in results:
        goal = ""
        if f.path.startswith("one hop"):
            ratio = f.p99 / raw_p99[f.rate] if raw_p99.get(f.rate) else float("inf")
            goal = f"p99 {ratio:.1f}× raw (≤ 1.5×) {'met' if ratio <= 1.5 else 'NOT met'}"
            if limit_p99.get(f.rate):
                goal += f"; {f.p99 / limit_p99[f.rate]:.1f}× the limit's p99"
        elif f.path.startswith("two") and f.rate == 300:
            goal = f"p99 ≤ 60 ms {'met' if f.p99 <= 0.060 else 'NOT met'}"
        top = max(f.samples, default=0.0)
        lines.append(
            f"| {f.path} | {f.rate} | {len(f.samples)}/{expected} | {f.p50 * 1000:.1f} | {f.p99 * 1000:.1f} "
            f"| {top * 1000:.1f} | {goal} |"
        )
    return "\n".join([*lines, ""])


def main() -> None:
    from bench.backbone import on_bench_servers, record_report

    record_report(report(on_bench_servers(run)))


if __name__ == "__main__":
    main()
