"""Two replicas of one consuming service share its work: Kafka splits the partitions, both drain the lag.

What Kubernetes (or KEDA on lag, deploy/k8s) does when it adds a pod: the same `python -m services.deadline
serve`, the same consumer group. The replicas here get a database and a consumer group of their own (the
group started at the topics' ends), so neither the session's services nor earlier tests' events are in it.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from bench.deadline import backlog, produce
from deploy.local.system import SystemPorts, wait_ready
from shared.contracts import topics
from shared.kafka.lag import GroupMember, LagReader
from tests.infra import REPO
from tests.infra import TestInfra as Infra  # not collected as a test class
from tests.support import start_group_at_end

EVENTS = 600
PORT = int(os.environ.get("DD_TEST_SERVICE_PORT_BASE", "18000")) + 600


@dataclass
class Replicas:
    group: str
    database_url: str
    env: dict[str, str]
    urls: list[str]


def _database_url(admin_url: str, name: str) -> str:
    return re.sub(r"/[^/?]+(\?|$)", rf"/{name}\1", admin_url, count=1)


@pytest.fixture
async def own_database(infra: Infra) -> AsyncIterator[str]:
    name = f"dd_replicas_{uuid.uuid4().hex[:8]}"
    admin = infra.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield _database_url(infra.database_url, name)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def replicas(infra: Infra, own_database: str) -> Iterator[Replicas]:
    group = f"dd-deadline-replicas-{uuid.uuid4().hex[:6]}"
    env = os.environ | {
        "DD_ENV": "local",
        "DD_DEADLINE_DATABASE_URL": own_database,
        "DD_DEADLINE_KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "DD_DEADLINE_KAFKA_CONSUMER_GROUP": group,
        "DD_DEADLINE_LOG_LEVEL": "WARNING",
    }
    subprocess.run([sys.executable, "-m", "services.deadline", "migrate"], cwd=REPO, env=env, check=True)
    yield Replicas(group, own_database, env, [f"http://127.0.0.1:{PORT + i}" for i in range(2)])


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.deadline", "serve"],
            cwd=REPO,
            env=env | {"DD_DEADLINE_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _split(reader: LagReader, group: str, expected: int, timeout_s: float) -> list[GroupMember]:
    """The group's members once it is stable with `expected` members that each own a partition."""
    deadline = time.monotonic() + timeout_s
    members: list[GroupMember] = []
    while time.monotonic() < deadline:
        members = await reader.members(group)
        if len(members) == expected and all(m.partitions for m in members):
            return members
        await asyncio.sleep(0.25)
    raise AssertionError(f"group {group} did not settle on {expected} members with partitions: {members}")


async def _handled(url: str, group: str) -> float:
    """This replica's own count of the events it handled on dispute.received (each process counts its own)."""
    metrics = (await httpx.AsyncClient().get(f"{url}/metrics", timeout=10)).text
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("dd_events_handled_total{") and f'consumergroup="{group}"' in line:
            if f'topic="{topics.DISPUTE_RECEIVED}"' in line and 'outcome="handled"' in line:
                total += float(line.rsplit(" ", 1)[1])
    return total


async def test_two_replicas_split_the_partitions_and_both_drain_the_lag(
    infra: Infra, kafka: str, replicas: Replicas, tmp_path: Path
) -> None:
    await start_group_at_end(infra.kafka_bootstrap_servers, replicas.group)
    procs = [_serve(replicas.env, PORT + i, tmp_path / f"deadline-{i}.log") for i in range(2)]
    reader = LagReader(infra.kafka_bootstrap_servers, client_id="test-replicas")
    await reader.start()
    try:
        await asyncio.to_thread(
            wait_ready,
            SystemPorts({f"deadline-{i}": PORT + i for i in range(2)}),
            timeout_s=90,
            still_running=lambda: all(p.poll() is None for p in procs),
        )
        partitions = await reader.partitions([topics.DISPUTE_RECEIVED])
        assert len(partitions) >= 2, "the topic needs two partitions to split"

        # Split: two members, each with partitions of its own, together every partition of the topic.
        members = await _split(reader, replicas.group, 2, timeout_s=60)
        owned = [{tp for tp in m.partitions if tp[0] == topics.DISPUTE_RECEIVED} for m in members]
        assert all(owned), f"each replica owns part of {topics.DISPUTE_RECEIVED}: {members}"
        assert not owned[0] & owned[1], f"no partition is given to both: {members}"
        assert owned[0] | owned[1] == {(tp.topic, tp.partition) for tp in partitions}

        # A burst of disputes spread over every partition (a key per dispute): lag rises, then both drain it.
        run = uuid.uuid4().hex[:6]
        await produce(infra.kafka_bootstrap_servers, backlog(EVENTS, run), run)
        peak = sum(r.lag for r in await reader.group_lag(replicas.group, [topics.DISPUTE_RECEIVED]))
        deadline = time.monotonic() + 120
        while (lag := sum(r.lag for r in await reader.group_lag(replicas.group, [topics.DISPUTE_RECEIVED]))) > 0:
            assert time.monotonic() < deadline, f"lag still {lag} after 120 s (peak {peak})"
            assert all(p.poll() is None for p in procs), "a replica exited"
            await asyncio.sleep(0.2)

        handled = [await _handled(url, replicas.group) for url in replicas.urls]
        assert all(h > 0 for h in handled), f"each replica applied some of the burst: {handled}"
        assert sum(handled) == EVENTS, f"every event applied once between them: {handled}"
        conn = await asyncpg.connect(replicas.database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            rows = await conn.fetchval(
                "SELECT count(*) FROM deadline.deadlines WHERE dispute_id LIKE $1", f"CD-{run}-%"
            )
        finally:
            await conn.close()
        assert rows == EVENTS, f"one deadline per dispute, {rows} of {EVENTS}"
    finally:
        await reader.stop()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
