"""Deadline benchmark: a backlog of `dispute.received` drained by the deadline service's runtime.

    make bench            (or: python -m bench.deadline --events 50000 [--replicas 2])

Starts its own PostgreSQL and Kafka (deploy/local, bench ports, `.local/bench`), migrates the
deadline schema, and produces the backlog while no deadline consumer runs. Then it starts the
service as deployed, `python -m services.deadline serve` (uvicorn on uvloop; the app's lifespan
with its garbage-collector settings; consumer, relay publishing `deadline.scheduled`, scheduler),
one process or `--replicas` of them in one consumer group, and times it to zero lag. Each event
computes a deadline on the KR calendar and writes the deadline row, four reminder rows (one
multi-row INSERT) and an outbox event.

In the same run, on the same backlog, the backbone bench's inbox-guarded consume (claim + no-op
handler, `bench.backbone.inbox_consume`) gives the ceiling the ratio is taken against.
Goal (issue 10): >= 5,000 events/s, a third of the inbox-guarded rate. Appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from bench.backbone import add_http_port_argument, cpu_seconds, inbox_consume, on_bench_servers, record_report
from deploy.local.infra import REPO, LocalInfra
from services.deadline import models
from services.deadline.main import DEFINITION
from services.deadline.settings import Settings
from shared.contracts import DisputeReceivedV1, Money, new_event, topics
from shared.db.engine import create_engine, session_factory
from shared.db.migrations import upgrade
from shared.db.session import session_scope
from shared.kafka.lag import LagReader
from shared.kafka.producer import create_producer
from shared.kafka.topics import ensure_topics
from tests.conftest import scratch_tables

GOAL = 5_000


def backlog(n: int, run: str) -> list[bytes]:
    notified = datetime.now(UTC) - timedelta(hours=1)
    return [
        new_event(
            DisputeReceivedV1(
                dispute_id=f"CD-{run}-{i:06d}",
                seller_id=f"V{i % 50:03d}",
                notice_id=f"N-{run}-{i}",
                kind="chargeback" if i % 2 else "platform_dispute",
                order_id=f"30{i:011d}",
                amount=Money(value="45000", currency="KRW"),
                reason_code="NOT_RECEIVED",
                reason_text="상품 미수령",
                notified_at=notified - timedelta(minutes=i % 1440),
            ),
            source="bench",
            seller_id=f"V{i % 50:03d}",
        ).to_bytes()
        for i in range(n)
    ]


async def produce(bootstrap: str, payloads: list[bytes], run: str) -> None:
    producer = create_producer(bootstrap, client_id="bench-deadline")
    await producer.start()
    try:
        futures = [
            await producer.send(topics.DISPUTE_RECEIVED, value, key=f"CD-{run}-{i:06d}".encode())
            for i, value in enumerate(payloads)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.deadline", "serve"], env=env, cwd=REPO, stdout=subprocess.DEVNULL
    )


async def drain_with_the_service(infra: LocalInfra, expected: int, *, replicas: int, port: int) -> dict[str, float]:
    """Start `replicas` deadline processes on the backlog; seconds to zero lag, and the rate from the first row.

    Each is `python -m services.deadline serve`, as deployed: uvicorn on uvloop, the app's lifespan
    (which freezes start-up objects out of the garbage collector), consumer, relay and scheduler.
    Replicas share the consumer group, so Kafka splits the partitions between them.
    """
    env = os.environ | {
        "DD_ENV": "local",
        "DD_DEADLINE_DATABASE_URL": infra.database_url,
        "DD_DEADLINE_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "DD_DEADLINE_LOG_LEVEL": "WARNING",
    }
    group = Settings(database_url=infra.database_url, env="local").consumer_group
    reader = LagReader(infra.kafka_bootstrap_servers, client_id="bench-deadline-lag")
    await reader.start()
    engine = create_engine(infra.database_url, pool_size=1)
    sessions = session_factory(engine)
    first: float | None = None
    started = time.perf_counter()
    processes = [serve(env | {"DD_DEADLINE_PORT": str(port + i)}) for i in range(replicas)]
    try:
        while True:
            if any(p.poll() is not None for p in processes):
                raise RuntimeError("a deadline process exited during the drain")
            async with session_scope(sessions) as session:
                done = (await session.execute(select(func.count()).select_from(models.deadlines))).scalar_one()
            if done and first is None:
                first = time.perf_counter()
                cpu_first = sum(cpu_seconds(p.pid) or 0.0 for p in processes)
            if done >= expected:
                handled = time.perf_counter()
                cpu_handled = sum(cpu_seconds(p.pid) or 0.0 for p in processes)
                break
            await asyncio.sleep(0.05)
        while sum(p.lag for p in await reader.group_lag(group, [topics.DISPUTE_RECEIVED])):  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # polling Kafka: there is no event to wait on
        zero_lag = time.perf_counter() - started
        async with session_scope(sessions) as session:
            reminders = (await session.execute(select(func.count()).select_from(models.reminders))).scalar_one()
        return {
            "rate": expected / (handled - (first or started)),
            "zero_lag_s": zero_lag,
            "handled_s": handled - started,
            "reminders": reminders,
            # CPU of the service processes per event, between the first row and the last (less
            # moved by other work on this shared machine than the rate is)
            "cpu_us": (cpu_handled - cpu_first) / expected * 1e6,
        }
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        await reader.stop()
        await engine.dispose()


async def inbox_ceiling(infra: LocalInfra, expected: int) -> float:
    """The backbone bench's inbox-guarded consume (no-op handler), on the same topic and backlog."""
    schema = f"bench_{uuid.uuid4().hex[:6]}"
    metadata, _, inbox_table, _ = scratch_tables(schema)
    engine = create_engine(infra.database_url, pool_size=5)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    try:
        return await inbox_consume(infra.kafka_bootstrap_servers, session_factory(engine), inbox_table, expected)
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


async def run(n: int, infra: LocalInfra, *, replicas: int, port: int) -> dict[str, float]:
    await ensure_topics(infra.kafka_bootstrap_servers)
    await asyncio.to_thread(upgrade, DEFINITION.migrations, infra.database_url)
    run_id = uuid.uuid4().hex[:6]
    await produce(infra.kafka_bootstrap_servers, backlog(n, run_id), run_id)  # no deadline consumer yet
    service = await drain_with_the_service(infra, n, replicas=replicas, port=port)
    ceiling = await inbox_ceiling(infra, n)
    return service | {"inbox_rate": ceiling, "replicas": replicas}


def report(r: dict[str, float], n: int) -> str:
    ratio, replicas = r["rate"] / r["inbox_rate"], int(r["replicas"])
    met = "met" if r["rate"] >= GOAL else "NOT met"
    return "\n".join(
        [
            f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — deadline: a backlog of {n} dispute.received drained by "
            f"{replicas} deadline process{'es' if replicas > 1 else ''} (`services.deadline serve`), "
            f"{platform.machine()}, {os.cpu_count()} cores",
            "",
            "| path | events/s | time to zero lag | service CPU µs/event | ratio | goal |",
            "|---|---:|---:|---:|---:|---|",
            f"| inbox-guarded consume, no-op handler (bench.backbone) | {r['inbox_rate']:,.0f} | | | | |",
            f"| deadline service (deadline + {r['reminders'] / n:.0f} reminder rows + outbox per event) "
            f"| {r['rate']:,.0f} | {r['zero_lag_s']:.1f} s | {r['cpu_us']:.0f} | {ratio:.0%} of inbox-guarded "
            f"| ≥ {GOAL:,}/s {met} |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--replicas", type=int, default=1, help="deadline processes sharing the consumer group")
    add_http_port_argument(parser)
    parser.add_argument("--keep", action="store_true", help="leave the servers running (and their data)")
    args = parser.parse_args()
    results = on_bench_servers(
        lambda infra: run(args.events, infra, replicas=args.replicas, port=args.port), keep=args.keep
    )
    record_report(report(results, args.events))


if __name__ == "__main__":
    main()
