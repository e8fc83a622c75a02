"""Creating the event topics and their DLQ twins (idempotent)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.contracts.topics import ALL_TOPICS, DEFAULT_PARTITIONS
from shared.kafka.metadata import fetch_cluster
from shared.kafka.security import PLAINTEXT, KafkaSecurity


async def ensure_topics(
    bootstrap_servers: str,
    *,
    partitions: int = DEFAULT_PARTITIONS,
    replication_factor: int = 1,
    names: Iterable[str] = ALL_TOPICS,
    timeout_s: float = 15.0,
    security: KafkaSecurity = PLAINTEXT,
) -> list[str]:
    """Create the topics that do not exist yet; returns the ones created."""
    names = list(names)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="dd-topics", **security.client_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(n, num_partitions=partitions, replication_factor=replication_factor) for n in missing]
                )
            except TopicAlreadyExistsError:
                pass  # another process created them first
        await _until_led(admin, list(names), timeout_s)
        return missing
    finally:
        await admin.close()


async def _until_led(admin: AIOKafkaAdminClient, names: list[str], timeout_s: float) -> None:
    """Wait until every partition has a leader: producing earlier fails with NotLeaderForPartition."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        cluster = await fetch_cluster(admin)
        leaderless = [
            (t, p)
            for t in names
            for p in (cluster.partitions_for_topic(t) or {None})
            if p is None or cluster.leader_for_partition(TopicPartition(t, p)) in (None, -1)
        ]
        if not leaderless:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics without a leader after {timeout_s}s: {leaderless[:5]}")
        await asyncio.sleep(0.1)
