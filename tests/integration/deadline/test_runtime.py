"""The service as deployed: its runtime consumes from Kafka, its scheduler worker fires, its relay publishes."""

from __future__ import annotations

import uuid
from datetime import timedelta

from aiokafka import AIOKafkaConsumer

import services.deadline.main
from services.deadline.settings import Settings
from shared.clock import ManualClock
from shared.contracts import parse_event, topics
from shared.kafka.metadata import topic_partitions
from shared.kafka.producer import create_producer
from tests.integration.deadline.conftest import T0, new_dispute_id, received
from tests.support import end_offsets, read_since


class _OwnGroup(Settings):
    """A consumer group of this test alone, so other tests' groups and events stay apart."""

    group: str = ""

    @property
    def consumer_group(self) -> str:
        return self.group


async def _start_at_end(bootstrap: str, group: str, names: list[str]) -> None:
    """Commit the group's offsets at the topics' ends: it reads only what comes after."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, names)
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit({tp: offset for tp, offset in ends.items()})
    finally:
        await consumer.stop()


async def test_received_over_kafka_is_scheduled_fired_by_the_worker_and_published(deadline, kafka):
    settings = _OwnGroup(
        database_url=deadline.settings.database_url,
        kafka_bootstrap_servers=kafka,
        env="local",
        group=f"dd-deadline-{uuid.uuid4().hex[:8]}",
    )
    clock = ManualClock(T0)
    runtime = services.deadline.main.create_app(settings, clock=clock).state.runtime
    await _start_at_end(kafka, settings.consumer_group, runtime.consumed_topics)
    since = await end_offsets(kafka, topics.DEADLINE_ALERTED)
    dispute = new_dispute_id()
    # Due in exactly 1 h at the service's clock: its 1 h reminder is due the moment it is scheduled.
    event = received(dispute, notified_at=T0 - timedelta(hours=2), respond_by=T0 + timedelta(hours=1))
    producer = create_producer(kafka, client_id="t-deadline-runtime")
    await producer.start()
    try:
        await runtime.start()
        await producer.send_and_wait(topics.DISPUTE_RECEIVED, event.to_bytes(), key=event.key)
        records = await read_since(kafka, since, keep=lambda r: r.key == dispute.encode(), expect=1, timeout_s=30)
    finally:
        await runtime.stop()
        await producer.stop()
    # Delivery is at least once (a relay that retries a publish may put an event on the topic twice, with its
    # id): what must hold is one reminder fired, one event id.
    (alert,) = {event.id: event for event in (parse_event(r.value) for r in records)}.values()
    assert (alert.data.alert, alert.data.offset_minutes, alert.data.hours_left) == ("reminder", 60, 1.0)
    assert alert.source == "deadline" and alert.sellerid == "V1"
