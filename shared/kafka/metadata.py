"""Partitions of topics, read fresh from the broker."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition


async def topic_partitions(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    # consumer.partitions_for_topic() only knows topics the consumer subscribed to; a
    # metadata request for all topics also covers ones created after it started.
    cluster = await consumer._client.fetch_all_metadata()
    return [TopicPartition(t, p) for t in topics for p in sorted(cluster.partitions_for_topic(t) or ())]
