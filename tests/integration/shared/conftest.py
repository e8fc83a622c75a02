"""Fixtures of the shared library's integration tests."""

from __future__ import annotations

import pytest

from shared.kafka.producer import create_producer


@pytest.fixture
async def producer(kafka):
    producer = create_producer(kafka, client_id="test-producer")
    await producer.start()
    yield producer
    await producer.stop()
