"""Chaos harness: restart Kafka and PostgreSQL under a steady writer, count what survived.

    make chaos-backbone     (or: python -m bench.chaos_backbone [--scenarios ...] [--kafka-outage 20])

Starts its own servers (deploy/local, bench ports, `.local/bench`). Per scenario, on a scratch
schema: a writer process (bench/_worker.py) writes events through the real Outbox at a fixed
rate, a worker process runs a real ServiceRuntime (outbox relay + inbox consumer). Then a
server goes away and comes back; the writer keeps going, is stopped, and the backbone drains.

  kafka-sigterm        Kafka stopped with SIGTERM, down longer than the producer's request timeout
  kafka-sigkill        Kafka killed with SIGKILL
  postgres-fast        pg_ctl stop -m fast
  postgres-immediate   pg_ctl stop -m immediate (no shutdown checkpoint)

The bench PostgreSQL is durable (fsync and synchronous_commit on, see deploy/local), so a
commit the writer saw succeed survives an immediate stop. Printed per scenario: written,
applied, lost, duplicated, left in the outbox, dead-lettered, seconds from the server's return
to the first new application and to catching up (every event written before its return
applied), and the worker's CPU while the server was away. Exits 1 unless every scenario lost,
duplicated and dead-lettered nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select, text

from bench._worker import ChaosTables
from bench.backbone import cpu_seconds
from deploy.local.infra import LocalInfra
from shared.contracts import EventParseError, parse_event, topics
from shared.contracts.topics import dlq_topic
from shared.db.engine import create_engine, session_factory
from shared.db.session import session_scope
from shared.kafka.dlq import DeadLetter, read_dead_letters
from shared.kafka.producer import create_producer
from shared.kafka.topics import ensure_topics
from tests.support import dispute_received

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = ("kafka-sigterm", "kafka-sigkill", "postgres-fast", "postgres-immediate")


@dataclass
class Plan:
    rate: float = 50.0  # events/s from the writer
    kafka_outage_s: float = 20.0  # > the producer's request_timeout (15 s)
    postgres_outage_s: float = 5.0
    warmup_s: float = 3.0
    after_s: float = 5.0  # writing goes on this long after the server is back
    drain_timeout_s: float = 60.0
    stall_s: float = 20.0  # give up draining sooner when nothing moves at all
    # Valid events published straight to Kafka while PostgreSQL is away, as another service's
    # relay would: they reach the consumer during the outage every time, not only by chance.
    injected: int = 10
    log_dir: Path = REPO / ".local" / "chaos"  # worker and writer logs; outlives the servers


def outage_s(plan: Plan, scenario: str) -> float:
    return plan.kafka_outage_s if scenario.startswith("kafka") else plan.postgres_outage_s


INJECTED_SEQ = 1_000_000  # seqs of the injected events, far above the writer's


async def publish_directly(bootstrap: str, prefix: str, n: int) -> list[tuple[int, uuid.UUID, datetime]]:
    """Publish n valid events to dispute.received with the real producer; (seq, id, when) of each."""
    producer = create_producer(bootstrap, client_id="chaos-other-service")
    await producer.start()
    sent = []
    try:
        for seq in range(INJECTED_SEQ, INJECTED_SEQ + n):
            event = dispute_received(f"{prefix}-{seq % 17:05d}", seq)
            await producer.send_and_wait(event.type, event.to_bytes(), key=event.key)
            sent.append((seq, event.id, datetime.now(UTC)))
    finally:
        await producer.stop()
    return sent


@dataclass
class Outcome:
    scenario: str
    written: int = 0
    applied: int = 0
    lost: int = 0
    unwritten_applied: int = 0  # applied but never committed by the writer: must be 0 too
    duplicated: int = 0
    outbox_left: int = 0
    dead_lettered: int = 0
    first_after_s: float | None = None
    caught_up_s: float | None = None
    worker_cpu: float | None = None  # share of one core while the server was away
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.unwritten_applied or self.duplicated or self.dead_lettered)


# ---------------------------------------------------------------- servers


def take_down(infra: LocalInfra, scenario: str) -> None:
    if scenario == "kafka-sigterm":
        infra.stop_kafka()
    elif scenario == "kafka-sigkill":
        infra.stop_kafka(kill=True)
    elif scenario == "postgres-fast":
        infra.stop_postgres()
    elif scenario == "postgres-immediate":
        infra.stop_postgres(immediate=True)  # pg_ctl -m immediate: no shutdown checkpoint
    else:
        raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")


def bring_back(infra: LocalInfra, scenario: str) -> None:
    (infra.start_kafka if scenario.startswith("kafka") else infra.start_postgres)()


# ---------------------------------------------------------------- processes


async def spawn(role: str, schema: str, prefix: str, arg: str, infra: LocalInfra, log: Path):
    env = os.environ | {
        "DD_DATABASE_URL": infra.database_url,
        "DD_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
    }
    with open(log, "wb") as out:  # noqa: ASYNC230 (a local file, opened once per process)
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench._worker", role, schema, prefix, arg, cwd=REPO, env=env, stdout=out, stderr=out
        )


async def stop_process(proc, timeout_s: float = 15) -> None:
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()


def dead_lettered_events(letters: list[DeadLetter], prefix: str) -> set[str]:
    """Distinct event ids of this run among `letters` (the relay may have sent one event twice)."""
    ids = set()
    for letter in letters:
        if (letter.key or "").startswith(prefix):
            try:
                ids.add(str(parse_event(letter.value).id))
            except EventParseError:
                ids.add(f"{letter.topic}:{letter.partition}:{letter.offset}")
    return ids


# ---------------------------------------------------------------- one scenario


class Ledger:
    """Reads the scratch schema's written / handled / outbox tables."""

    def __init__(self, database_url: str, tables: ChaosTables) -> None:
        self.tables = tables
        self.engine = create_engine(database_url, pool_size=1, application_name="chaos-ledger")
        self.sessions = session_factory(self.engine)

    async def counts(self) -> tuple[int, int, int]:
        """(written, distinct seqs applied, outbox rows); raises while PostgreSQL is away."""
        t = self.tables
        async with session_scope(self.sessions) as s:
            written = (await s.execute(select(func.count()).select_from(t.written))).scalar_one()
            applied = (await s.execute(select(func.count(t.handled.c.seq.distinct())))).scalar_one()
            left = (await s.execute(select(func.count()).select_from(t.outbox_table))).scalar_one()
        return written, applied, left

    async def wait_for(self, done, timeout_s: float, *, stall_s: float | None = None) -> str | None:
        """Poll until done(written, applied, left): None, or why it gave up (timeout, or stall_s without change)."""
        deadline = time.monotonic() + timeout_s
        last, changed_at = None, time.monotonic()
        while time.monotonic() < deadline:
            try:
                counts = await self.counts()
                if done(*counts):
                    return None
                if counts != last:
                    last, changed_at = counts, time.monotonic()
                elif stall_s is not None and time.monotonic() - changed_at > stall_s:
                    return f"nothing moved for {stall_s:.0f} s"
            except Exception:  # PostgreSQL still coming back
                pass
            await asyncio.sleep(0.25)
        return f"not done within {timeout_s:.0f} s"

    async def record_written(self, events: list[tuple[int, uuid.UUID, datetime]], timeout_s: float = 30) -> None:
        """Count events published without the writer as written (once PostgreSQL answers again)."""
        deadline = time.monotonic() + timeout_s
        while events:
            try:
                async with session_scope(self.sessions) as s:
                    rows = [{"seq": seq, "event_id": eid, "written_at": at} for seq, eid, at in events]
                    await s.execute(insert(self.tables.written), rows)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def fill(self, out: Outcome, back_at: float) -> None:
        t = self.tables
        async with session_scope(self.sessions) as s:
            pairs = await s.execute(select(t.written.c.seq, t.written.c.written_at))
            written = {seq: at.timestamp() for seq, at in pairs}
            rows = (await s.execute(select(t.handled.c.seq, t.handled.c.applied_at))).all()
            out.outbox_left = (await s.execute(select(func.count()).select_from(t.outbox_table))).scalar_one()
        first_applied: dict[int, float] = {}
        for seq, at in rows:
            first_applied[seq] = min(first_applied.get(seq, at.timestamp()), at.timestamp())
        out.written, out.applied = len(written), len(rows)
        out.lost = len(written.keys() - first_applied.keys())
        out.unwritten_applied = len(first_applied.keys() - written.keys())
        out.duplicated = len(rows) - len(first_applied)
        after = [at for at in first_applied.values() if at >= back_at]
        out.first_after_s = min(after) - back_at if after else None
        before = [first_applied.get(seq) for seq, at in written.items() if at < back_at]
        if before and None not in before:
            out.caught_up_s = max(0.0, max(before) - back_at)

    async def close(self) -> None:
        await self.engine.dispose()


async def run_scenario(infra: LocalInfra, scenario: str, plan: Plan) -> Outcome:
    schema = f"chaos_{uuid.uuid4().hex[:8]}"
    prefix, group = schema.upper(), f"chaos-{schema}"
    tables = ChaosTables(schema)
    out = Outcome(scenario)
    engine = create_engine(infra.database_url, pool_size=1, application_name="chaos-setup")
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(tables.metadata.create_all)
    await engine.dispose()
    plan.log_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(infra.database_url, tables)
    worker = await spawn("worker", schema, prefix, group, infra, plan.log_dir / f"{scenario}-worker.log")
    writer = await spawn("writer", schema, prefix, str(plan.rate), infra, plan.log_dir / f"{scenario}-writer.log")
    try:
        if await ledger.wait_for(lambda w, a, _: a >= plan.rate * plan.warmup_s, 90):
            raise RuntimeError(f"{scenario}: the worker applied nothing within 90 s (see {plan.log_dir})")
        await asyncio.to_thread(take_down, infra, scenario)
        cpu0, t0 = cpu_seconds(worker.pid), time.monotonic()
        injected = []
        if scenario.startswith("postgres"):
            injected = await publish_directly(infra.kafka_bootstrap_servers, prefix, plan.injected)
        await asyncio.sleep(max(0.0, t0 + outage_s(plan, scenario) - time.monotonic()))
        out.worker_cpu = (cpu_seconds(worker.pid) - cpu0) / (time.monotonic() - t0)
        await asyncio.to_thread(bring_back, infra, scenario)
        back_at = time.time()
        await ledger.record_written(injected)
        await asyncio.sleep(plan.after_s)
        await stop_process(writer)
        why = await ledger.wait_for(lambda w, a, left: a >= w and left == 0, plan.drain_timeout_s, stall_s=plan.stall_s)
        if why:
            out.notes.append(f"not drained: {why}")
        await asyncio.sleep(2)  # room for a late duplicate to show up
        await ledger.fill(out, back_at)
        letters = await read_dead_letters(infra.kafka_bootstrap_servers, [dlq_topic(topics.DISPUTE_RECEIVED)])
        out.dead_lettered = len(dead_lettered_events(letters, prefix))
        if worker.returncode is not None:
            out.notes.append(f"worker exited with {worker.returncode}")
        return out
    finally:
        await stop_process(writer)
        await stop_process(worker)
        await ledger.close()
        # Whatever happened, leave both servers up for the next scenario.
        if not infra.kafka_running():
            await asyncio.to_thread(infra.start_kafka)
        if not infra.postgres_running():
            await asyncio.to_thread(infra.start_postgres)


async def run(infra: LocalInfra, scenarios: list[str], plan: Plan) -> list[Outcome]:
    await ensure_topics(infra.kafka_bootstrap_servers)
    if not infra.pg_durable:  # a commit the writer saw must survive an immediate stop
        raise RuntimeError("the chaos drill needs a durable PostgreSQL (DD_*_PG_DURABLE not false)")
    outcomes = []
    for scenario in scenarios:
        outcome = await run_scenario(infra, scenario, plan)
        print(format_row(outcome), flush=True)
        outcomes.append(outcome)
    return outcomes


# ---------------------------------------------------------------- report


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}"


HEADER = (
    "| scenario | written | applied | lost | duplicated | left in outbox | dead-lettered "
    "| first applied after return (s) | caught up (s) | worker CPU while away | verdict |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def format_row(o: Outcome) -> str:
    lost = f"{o.lost}" + (f" (+{o.unwritten_applied} applied, never written)" if o.unwritten_applied else "")
    verdict = "ok" if o.ok else "FAILED"
    if o.notes:
        verdict += " — " + "; ".join(o.notes)
    cpu = "" if o.worker_cpu is None else f"{o.worker_cpu:.0%}"
    return (
        f"| {o.scenario} | {o.written} | {o.applied} | {lost} | {o.duplicated} | {o.outbox_left} "
        f"| {o.dead_lettered} | {_s(o.first_after_s)} | {_s(o.caught_up_s)} | {cpu} | {verdict} |"
    )


def report(outcomes: list[Outcome], plan: Plan) -> str:
    return "\n".join(
        [
            f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — chaos-backbone, writer {plan.rate:g} events/s, "
            f"Kafka down {plan.kafka_outage_s:g} s, PostgreSQL down {plan.postgres_outage_s:g} s",
            "",
            HEADER,
            *(format_row(o) for o in outcomes),
            "",
            "Goals: 0 lost, 0 duplicated, 0 dead-lettered; recovery ≤ 5 s after the server is back; "
            "< 10 % of a core per process while Kafka is away.",
            "",
        ]
    )


def main() -> None:
    from bench.backbone import RESULTS, append_results, bench_infra

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--rate", type=float, default=Plan.rate)
    parser.add_argument("--kafka-outage", type=float, default=Plan.kafka_outage_s)
    parser.add_argument("--postgres-outage", type=float, default=Plan.postgres_outage_s)
    parser.add_argument("--no-record", action="store_true", help=f"do not append to {RESULTS.name}")
    args = parser.parse_args()
    plan = Plan(rate=args.rate, kafka_outage_s=args.kafka_outage, postgres_outage_s=args.postgres_outage)
    infra = bench_infra()
    infra.destroy()
    infra.up()
    try:
        print(HEADER, flush=True)
        outcomes = asyncio.run(run(infra, args.scenarios, plan))
    finally:
        infra.destroy()
    text_ = report(outcomes, plan)
    print("\n" + text_)
    if not args.no_record:
        append_results(text_)
    sys.exit(0 if all(o.ok for o in outcomes) else 1)


if __name__ == "__main__":
    main()
