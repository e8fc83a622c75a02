"""Consumer-group lag (end offset minus committed offset), per topic and partition.

A partition the group has never committed counts from its first retained offset, since the
group (auto_offset_reset=earliest) would read all of it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from shared.kafka.metadata import client_of, fetch_cluster, topic_partitions
from shared.kafka.quiet import throttle_metadata_retries
from shared.kafka.security import PLAINTEXT, KafkaSecurity
from shared.metrics import BackboneMetrics


@dataclass(frozen=True)
class PartitionLag:
    consumergroup: str
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GroupMember:
    """One consumer in a group and the partitions the group's last rebalance gave it."""

    consumergroup: str
    member_id: str
    client_id: str
    host: str
    partitions: tuple[tuple[str, int], ...]  # (topic, partition), sorted


class LagReader:
    """Long-lived admin and metadata clients; one round of look-ups per call."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        client_id: str = "dd-lag",
        reconnect_backoff_ms: int = 500,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers, client_id=client_id, **security.client_kwargs()
        )
        self._meta = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            enable_auto_commit=False,
            **security.client_kwargs(),
        )
        for client in (self._admin, self._meta):
            throttle_metadata_retries(client_of(client), reconnect_backoff_ms / 1000)

    async def start(self) -> None:
        await self._admin.start()
        await self._meta.start()

    async def stop(self) -> None:
        await self._meta.stop()
        await self._admin.close()

    async def ping(self) -> None:
        """One metadata round trip; raises if no broker answers."""
        await fetch_cluster(self._meta)

    async def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        return await topic_partitions(self._meta, topics)

    async def group_lag(self, group_id: str, topics: Iterable[str] | None = None) -> list[PartitionLag]:
        committed = await self._admin.list_consumer_group_offsets(group_id)
        names = sorted(set(topics) if topics is not None else {tp.topic for tp in committed})
        partitions = await self.partitions(names)
        if not partitions:
            return []
        ends = await self._meta.end_offsets(partitions)
        starts = await self._meta.beginning_offsets(partitions)
        rows = []
        for tp in partitions:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else None
            rows.append(
                PartitionLag(
                    consumergroup=group_id,
                    topic=tp.topic,
                    partition=tp.partition,
                    committed=done,
                    end=ends[tp],
                    lag=max(ends[tp] - (done if done is not None else starts[tp]), 0),
                )
            )
        return rows

    async def members(self, group_id: str) -> list[GroupMember]:
        """The group's members and their assigned partitions (empty while it rebalances or has none)."""
        members: list[GroupMember] = []
        for response in await self._admin.describe_consumer_groups([group_id]):
            for group in response.groups:
                _error, _group_id, state, _protocol_type, _protocol, group_members = group[:6]
                if state != "Stable":
                    continue  # assignments of a group in the middle of a rebalance are not yet true
                for member_id, client_id, host, _metadata, assignment in (m[:5] for m in group_members):
                    decoded = ConsumerProtocolMemberAssignment.decode(assignment) if assignment else None
                    owned = sorted((t, p) for t, ps in (decoded.assignment if decoded else []) for p in ps)
                    members.append(GroupMember(group_id, member_id, client_id, host, tuple(owned)))
        return sorted(members, key=lambda m: m.partitions)

    async def groups(self, prefix: str = "") -> list[str]:
        return sorted(g[0] for g in await self._admin.list_consumer_groups() if g[0].startswith(prefix))

    async def message_counts(self, topics: Iterable[str]) -> dict[str, int]:
        """Messages retained per topic (used for DLQ sizes)."""
        partitions = await self.partitions(topics)
        if not partitions:
            return {}
        ends = await self._meta.end_offsets(partitions)
        starts = await self._meta.beginning_offsets(partitions)
        counts: dict[str, int] = {}
        for tp in partitions:
            counts[tp.topic] = counts.get(tp.topic, 0) + ends[tp] - starts[tp]
        return counts


class LagMonitor:
    """Keeps the lag gauges of one service's groups fresh, at most once per interval."""

    def __init__(
        self,
        reader: LagReader,
        groups: Mapping[str, Iterable[str]],
        metrics: BackboneMetrics,
        *,
        dlq_topics: Iterable[str] = (),
        min_interval_s: float = 5.0,
    ) -> None:
        self._reader = reader
        self._groups = {g: tuple(t) for g, t in groups.items()}
        self._metrics = metrics
        self._dlq_topics = tuple(dlq_topics)
        self._min_interval_s = min_interval_s
        self._last: tuple[float, list[PartitionLag]] | None = None

    async def snapshot(self, *, fresh: bool = False) -> list[PartitionLag]:
        if not fresh and self._last and time.monotonic() - self._last[0] < self._min_interval_s:
            return self._last[1]
        if not self._groups and not self._dlq_topics:
            await self._reader.ping()  # nothing to read, but "Kafka is there" must still be true
        rows = [row for group, topics in self._groups.items() for row in await self._reader.group_lag(group, topics)]
        self._export(rows)
        if self._dlq_topics:
            for topic, count in (await self._reader.message_counts(self._dlq_topics)).items():
                self._metrics.dlq_messages.labels(topic).set(count)
        self._last = (time.monotonic(), rows)
        return rows

    def _export(self, rows: list[PartitionLag]) -> None:
        for row in rows:
            self._metrics.consumergroup_lag.labels(row.consumergroup, row.topic, str(row.partition)).set(row.lag)
