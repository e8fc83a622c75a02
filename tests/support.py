"""Builders and Kafka readers shared by the tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import (
    CaseSubmittedV1,
    DeadlineAlertedV1,
    DeadlineScheduledV1,
    DisputeReceivedV1,
    DisputeUpdatedV1,
    Envelope,
    EventData,
    EvidenceRef,
    EvidenceUploadedV1,
    EvidenceValidatedV1,
    Finding,
    Money,
    VerdictReturnedV1,
    new_event,
)
from shared.contracts.topics import EVENT_TOPICS
from shared.kafka.consumer import EventConsumer
from shared.kafka.metadata import topic_partitions
from shared.settings import ServiceSettings


def dispute_received(dispute_id: str, seq: int, *, padding: int = 0) -> Envelope:
    """A valid `dispute.received`; `seq` rides in the notice id so handlers can record it."""
    return new_event(
        DisputeReceivedV1(
            dispute_id=dispute_id,
            seller_id="V-TEST",
            notice_id=f"N-{seq}",
            kind="chargeback",
            order_id="3000123456789",
            amount=Money(value="45000", currency="KRW"),
            reason_code="NOT_RECEIVED",
            raw_reason_code="13.1",
            reason_text="상품 미수령" + "." * padding,
            buyer_id="B-77",
            notified_at="2026-09-23T10:15:00+09:00",
        ),
        source="tests",
        seller_id="V-TEST",
    )


def recording_handler(handled_table, *, only_prefix: str):
    """A handler that logs each application of an event of this test into `handled`."""

    async def handle(session: AsyncSession, event: Envelope, ctx) -> None:
        if event.subject.startswith(only_prefix):
            seq = int(event.data.notice_id.split("-")[1])
            await session.execute(insert(handled_table).values(event_id=event.id, dispute_id=event.subject, seq=seq))

    return handle


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, [topic])
        return await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()


async def read_since(
    bootstrap: str,
    since: dict[TopicPartition, int],
    *,
    keep: Callable[[ConsumerRecord], bool] = lambda r: True,
    expect: int | None = None,
    quiet_s: float = 1.5,
    timeout_s: float = 30.0,
) -> list[ConsumerRecord]:
    """Records written after `since`; stops at `expect` kept records, or after `quiet_s` of silence."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            fresh = [r for rs in batch.values() for r in rs if keep(r)]
            if fresh:
                records.extend(fresh)
                last_new = time.monotonic()
            if expect is not None and len(records) >= expect:
                await asyncio.sleep(0.3)  # a moment more, so an extra duplicate would show up
                records.extend(r for rs in (await consumer.getmany(timeout_ms=200)).values() for r in rs if keep(r))
                break
            if expect is None and time.monotonic() - last_new > quiet_s:
                break
        return records
    finally:
        await consumer.stop()


async def eventually(check, *, timeout_s: float = 30.0, interval_s: float = 0.2):
    """Await `check()` until it returns something truthy; returns it, or fails with the last value."""
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s (last: {value!r})")


class running:
    """Run a consumer in the background for the duration of a block."""

    def __init__(self, consumer: EventConsumer) -> None:
        self.consumer = consumer

    async def __aenter__(self) -> EventConsumer:
        await self.consumer.start()
        self.task = asyncio.create_task(self.consumer.run())
        return self.consumer

    async def __aexit__(self, *exc) -> None:
        self.consumer.request_stop()
        await asyncio.wait_for(self.task, 15)


S = TypeVar("S", bound=ServiceSettings)


def own_group(settings: S, group: str) -> S:
    """The same settings with a consumer group of their own (a test's services, apart from every other test's)."""
    cls = type(settings)
    subclass = type(f"{cls.__name__}OwnGroup", (cls,), {"consumer_group": property(lambda self: group)})
    return subclass(**settings.model_dump())  # type: ignore[no-any-return]


async def start_group_at_end(bootstrap: str, group: str, names: Iterable[str] = EVENT_TOPICS) -> None:
    """Commit `group`'s offsets at the topics' ends: it reads only what comes after (a new group reads from
    the earliest offset, every earlier test's events included)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, list(names))
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit(dict(ends))
    finally:
        await consumer.stop()


SHA = "a" * 64
EVIDENCE_ID = uuid.uuid4()

# One valid instance of every event version (shared.contracts.EVENT_DATA_TYPES): the contract tests'
# examples (tests/unit/shared/test_contracts.py, test_asyncapi.py). A new version adds its own here.
ONE_OF_EACH: list[EventData] = [
    dispute_received("CD-2026-000123", 1).data,
    DisputeUpdatedV1(
        dispute_id="CD-2026-000123",
        seller_id="V-TEST",
        change="updated",
        respond_by="2026-10-02T23:59:59+09:00",
        amount=Money(value="30000", currency="KRW"),
    ),
    EvidenceUploadedV1(
        dispute_id="CD-1",
        evidence_id=EVIDENCE_ID,
        kind="tracking_record",
        sha256=SHA,
        size=10,
        media_type="application/json",
        source="cj",
        captured_at="2026-09-24T09:00:00+09:00",
    ),
    EvidenceValidatedV1(
        dispute_id="CD-1",
        report_id=uuid.uuid4(),
        status="needs_fix",
        ruleset_version="2026.11",
        findings=[Finding(rule="carrier_not_accepted", severity="blocker", evidence_id=EVIDENCE_ID)],
        evidence_set=[EvidenceRef(evidence_id=EVIDENCE_ID, kind="tracking_record", sha256=SHA)],
    ),
    DeadlineScheduledV1(
        dispute_id="CD-1",
        due_at="2026-09-30T14:59:59Z",
        business_days=5,
        rule="computed",
        reminder_offsets_minutes=[4320, 1440, 360, 60],
    ),
    DeadlineAlertedV1(dispute_id="CD-1", alert="reminder", due_at="2026-09-30T14:59:59Z", hours_left=24.0),
    CaseSubmittedV1(
        dispute_id="CD-1",
        receipt_id="R-1",
        adapter="http",
        submitted_at="2026-09-25T01:00:00Z",
        package_sha256=SHA,
        evidence_set=[EvidenceRef(evidence_id=EVIDENCE_ID, kind="invoice")],
    ),
    VerdictReturnedV1(
        dispute_id="CD-1",
        outcome="won",
        amount=Money(value="45000", currency="KRW"),
        policy_clause="4.2",
        summary_zh="胜诉",
        suggestions=["保留签收照片"],
    ),
]
