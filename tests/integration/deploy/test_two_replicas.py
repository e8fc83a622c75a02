"""What KEDA does when it scales a consumer out, on the local Kafka: two replicas of deadline, as two
`python -m services.deadline serve` processes in its group dd-deadline, split the partitions of its
topics between them and both drain a backlog. A replica stopped with SIGTERM (as Kubernetes does after
preStop) exits cleanly and leaves the group at once, so the other takes all partitions without waiting
for a session timeout."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

import services.deadline.main
from services.deadline.settings import Settings
from shared.contracts import topics
from shared.db.migrations import upgrade
from shared.db.roles import ensure_roles, service_role, with_user
from shared.kafka.consumer import topics_of
from shared.kafka.lag import LagReader
from shared.kafka.producer import create_producer
from tests.integration.deadline.conftest import new_dispute_id, received
from tests.support import eventually, start_group_at_end

# A group of the test's own (DD_DEADLINE_KAFKA_CONSUMER_GROUP), so no other deadline consumer of the suite can
# join it; deployed, it is dd-deadline, the group its ScaledObject watches.
GROUP = f"dd-deadline-replicas-{uuid.uuid4().hex[:6]}"
TOPICS = topics_of(services.deadline.main.DEFINITION.handlers)
EVENTS = 240


@pytest.fixture
async def database(infra) -> AsyncIterator[str]:
    name = f"dd_replicas_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(infra.database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(infra.database_url).set(database=name).render_as_string(hide_password=False)
    try:
        await ensure_roles(infra.database_url, ["deadline"], adopt_schemas=False)
        await asyncio.to_thread(
            upgrade, services.deadline.main.DEFINITION.migrations, url, grant_to=service_role("deadline")
        )
        yield with_user(url, service_role("deadline"))
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
def ports() -> Iterator[list[int]]:
    base = int(os.environ.get("DD_TEST_SERVICE_PORT_BASE", "18000"))
    yield [base + 60, base + 61]


class Replica:
    def __init__(self, port: int, env: dict[str, str]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = tempfile.TemporaryFile()  # not a pipe: a full one would stall the replica
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.deadline", "serve"],
            env={**env, "DD_DEADLINE_PORT": str(port)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.output()
                with suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.3)
        raise AssertionError(f"replica on {self.port} not ready:\n{self.output()}")

    async def handled(self, topic: str) -> float:
        """This replica's dd_events_handled_total for the group and topic (every outcome)."""
        async with httpx.AsyncClient(timeout=5) as client:
            body = (await client.get(f"{self.url}/metrics")).text
        total = 0.0
        for line in body.splitlines():
            if line.startswith("dd_events_handled_total{") and f'consumergroup="{GROUP}"' in line:
                if f'topic="{topic}"' in line:
                    total += float(line.rsplit(" ", 1)[1])
        return total

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def terminate(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@asynccontextmanager
async def replicas(env: dict[str, str], ports: list[int]) -> AsyncIterator[list[Replica]]:
    started: list[Replica] = []
    try:
        for port in ports:
            replica = Replica(port, env)
            started.append(replica)
            await replica.ready()
        yield started
    finally:
        for replica in started:
            replica.terminate()
            replica.log.close()


async def assignments(bootstrap: str) -> dict[str, dict[str, set[int]]]:
    """The group's members (by member id) and the partitions each holds (`dd members` reads the same)."""
    reader = LagReader(bootstrap, client_id="t-replicas")
    await reader.start()
    try:
        result: dict[str, dict[str, set[int]]] = {}
        for member in await reader.members(GROUP):
            held = result.setdefault(member.member_id, {})
            for topic, partition in member.partitions:
                held.setdefault(topic, set()).add(partition)
        return result
    finally:
        await reader.stop()


async def lag(bootstrap: str, topic: str) -> int:
    reader = LagReader(bootstrap, client_id="t-replicas-lag")
    await reader.start()
    try:
        return sum(row.lag for row in await reader.group_lag(GROUP) if row.topic == topic)
    finally:
        await reader.stop()


async def test_two_replicas_split_the_partitions_and_both_drain_the_lag(infra, kafka, database, ports):
    await start_group_at_end(kafka, GROUP, TOPICS)  # only this test's events count
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DD_")},
        "DD_ENV": "local",
        "DD_DEADLINE_DATABASE_URL": database,
        "DD_DEADLINE_KAFKA_CONSUMER_GROUP": GROUP,
        "DD_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "DD_LAG_REFRESH_INTERVAL_S": "1",
    }
    async with replicas(env, ports) as (first, second):

        async def split() -> dict[str, dict[str, set[int]]] | None:
            members = await assignments(kafka)  # a rebalance in progress shows members without partitions
            return members if len(members) == 2 and all(members.values()) else None

        members = await eventually(split, timeout_s=60)
        # Together they hold every partition of every topic deadline consumes, each exactly once.
        for topic in TOPICS:
            held = [members[m].get(topic, set()) for m in members]
            assert not held[0] & held[1], (topic, held)
            assert len(held[0] | held[1]) == 6, (topic, held)
        # dispute.received, the topic this test loads, is split too: both replicas get some of it.
        assert all(members[m].get(topics.DISPUTE_RECEIVED) for m in members), members

        producer = create_producer(kafka, client_id="t-replicas")
        await producer.start()
        try:
            for _ in range(EVENTS):  # a key each: spread over all six partitions
                event = received(new_dispute_id())
                await producer.send(topics.DISPUTE_RECEIVED, event.to_bytes(), key=event.key)
            await producer.flush()
        finally:
            await producer.stop()

        async def drained() -> bool:
            return await lag(kafka, topics.DISPUTE_RECEIVED) == 0

        await eventually(drained, timeout_s=120)
        counts = [await r.handled(topics.DISPUTE_RECEIVED) for r in (first, second)]
        assert all(count > 0 for count in counts), counts  # both drained part of it
        assert sum(counts) >= EVENTS, counts

        # SIGTERM (after preStop, in Kubernetes): a clean exit that leaves the group at once, well
        # before the 10 s session timeout would have, and the other replica takes every partition.
        stopped_at = time.monotonic()
        code = second.terminate()
        log = second.output()
        # uvicorn re-raises the signal once its shutdown completed: -SIGTERM is its clean exit.
        assert code in (0, -signal.SIGTERM) and "Application shutdown complete" in log, (code, log)
        assert '"level": "error"' not in log, log

        async def alone() -> bool:
            members = await assignments(kafka)
            return len(members) == 1 and all(
                len(held.get(topic, set())) == 6 for held in members.values() for topic in TOPICS
            )

        await eventually(alone, timeout_s=30)
        assert time.monotonic() - stopped_at < Settings().kafka_session_timeout_ms / 1000
