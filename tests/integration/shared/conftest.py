"""Fixtures of the shared library's integration tests."""

from __future__ import annotations

import uuid

import pytest

from shared.contracts.topics import dlq_topic
from shared.kafka.producer import create_producer
from shared.kafka.topics import ensure_topics


@pytest.fixture
async def producer(kafka):
    producer = create_producer(kafka, client_id="test-producer")
    await producer.start()
    yield producer
    await producer.stop()


@pytest.fixture
async def topic(kafka):
    """A fresh topic (3 partitions) and its DLQ twin, for one test."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, partitions=3, names=[name, dlq_topic(name)])
    return name
