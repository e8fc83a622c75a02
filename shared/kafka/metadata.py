"""Cluster metadata read fresh from the broker: the one place that calls aiokafka's private client."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient
from aiokafka.cluster import ClusterMetadata

KafkaClientOwner: TypeAlias = AIOKafkaConsumer | AIOKafkaProducer | AIOKafkaAdminClient


def client_of(owner: KafkaClientOwner) -> AIOKafkaClient:
    """The network client inside a consumer, producer or admin client (private on the first and last)."""
    return owner.client if isinstance(owner, AIOKafkaProducer) else owner._client


async def fetch_cluster(owner: KafkaClientOwner) -> ClusterMetadata:
    """Metadata of every topic, in one request to a broker; raises if none answers.

    aiokafka has no public call for this: `partitions_for_topic()` only knows the topics a
    client already asked about, and misses ones created after it started. The network
    client's own `fetch_all_metadata()` does it; it is also the cheapest "is Kafka there?".
    """
    return await client_of(owner).fetch_all_metadata()


async def topic_partitions(owner: KafkaClientOwner, topics: Iterable[str]) -> list[TopicPartition]:
    cluster = await fetch_cluster(owner)
    return [TopicPartition(t, p) for t in topics for p in sorted(cluster.partitions_for_topic(t) or ())]
