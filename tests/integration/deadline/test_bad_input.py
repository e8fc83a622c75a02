"""Events the clock refuses are dead-lettered at once with their reason, never given a silent default."""

from __future__ import annotations

import json
import uuid

import pytest

from services.deadline.errors import RejectedEvent
from services.deadline.settings import Settings
from shared.contracts.topics import dlq_topic
from shared.kafka.consumer import EventConsumer
from shared.kafka.dlq import read_dead_letters
from shared.kafka.topics import ensure_topics
from tests.integration.deadline.conftest import new_dispute_id, received, updated
from tests.support import eventually, running


async def test_respond_by_before_the_notice_is_rejected_with_its_code(deadline):
    dispute = new_dispute_id()
    with pytest.raises(RejectedEvent) as caught:
        await deadline.deliver_events(received(dispute, respond_by="2026-11-22"))
    assert caught.value.code == "respond_by_before_notice"
    assert await deadline.row(dispute) is None


async def test_a_new_respond_by_before_the_notice_is_rejected(deadline):
    dispute = new_dispute_id()
    await deadline.deliver_events(received(dispute))
    with pytest.raises(RejectedEvent) as caught:
        await deadline.deliver_events(updated(dispute, respond_by="2026-11-01"))
    assert caught.value.code == "respond_by_before_notice"
    assert (await deadline.row(dispute)).version == 1


async def test_a_kind_without_configured_business_days_is_rejected(deadline):
    saved = deadline.context.settings
    deadline.context.settings = Settings(business_days={"chargeback": 5})
    try:
        with pytest.raises(RejectedEvent) as caught:
            await deadline.deliver_events(received(new_dispute_id(), kind="platform_dispute"))
        assert caught.value.code == "unknown_dispute_kind"
    finally:
        deadline.context.settings = saved


def _raw(event, **data_changes) -> bytes:
    body = event.to_json_dict()
    body["data"].update(data_changes)
    return json.dumps(body).encode()


async def test_bad_events_go_to_the_dlq_at_once_with_their_reason_and_good_ones_are_applied(deadline, kafka):
    topic = f"t-deadline-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, partitions=1, names=[topic, dlq_topic(topic)])
    good, before, naive, kind = (new_dispute_id() for _ in range(4))
    messages = [
        received(before, respond_by="2026-11-20").to_bytes(),
        _raw(received(naive), notified_at="2026-11-23T10:00:00"),
        _raw(received(kind), kind="refund"),
        received(good).to_bytes(),
    ]
    from shared.kafka.producer import create_producer

    producer = create_producer(kafka, client_id="t-deadline")
    await producer.start()
    try:
        for value in messages:
            await producer.send_and_wait(topic, value, key=b"k")
        consumer = EventConsumer(
            service="deadline",
            context=deadline.context,
            group_id=f"g-{topic}",
            handlers=deadline.definition.handlers,
            sessions=deadline.sessions,
            inbox_table=deadline.definition.inbox_table,
            producer=producer,
            bootstrap_servers=kafka,
            settings=deadline.settings,
            topics=[topic],
        )
        async with running(consumer):
            letters = await eventually(lambda: _letters(kafka, topic, 3), timeout_s=30)
            await eventually(lambda: deadline.row(good), timeout_s=10)
    finally:
        await producer.stop()
    reasons = {json.loads(letter.value)["subject"]: letter for letter in letters}
    assert "respond_by_before_notice" in reasons[before].error
    assert reasons[before].headers["dd-attempts"] == "1"  # permanent: not retried
    assert "notified_at" in reasons[naive].error and "timezone" in reasons[naive].error
    assert "kind" in reasons[kind].error
    for dispute in (before, naive, kind):
        assert await deadline.row(dispute) is None


async def _letters(kafka, topic, n):
    letters = await read_dead_letters(kafka, [dlq_topic(topic)])
    return letters if len(letters) >= n else None
