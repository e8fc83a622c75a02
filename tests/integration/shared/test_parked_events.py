"""Events that arrive before their dispute's earlier fact: parked, then applied, never dead-lettered.

A tiny service over a scratch schema: `dispute.updated` and `evidence.validated` need the case
that `dispute.received` creates. One dispute's events travel on three topics through real Kafka
and the real `EventConsumer`.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Column, DateTime, String, Table, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.contracts import (
    DeadlineAlertedV1,
    DeadlineScheduledV1,
    DisputeReceivedV1,
    DisputeUpdatedV1,
    Envelope,
    EvidenceValidatedV1,
    Money,
    VerdictReturnedV1,
    new_event,
)
from shared.contracts.topics import dlq_topic
from shared.db.parking import parked_table, refresh_parked_metrics
from shared.db.session import session_scope
from shared.kafka.consumer import EventConsumer
from shared.kafka.handlers import Deferred, handler_map
from shared.kafka.topics import ensure_topics
from shared.settings import ServiceSettings
from tests.support import dispute_received, end_offsets, eventually, running

RANK = {"received": 0, "needs_fix": 1, "ready": 1, "accepted": 2, "won": 3, "lost": 3, "partial": 3}


class Desk:
    """The scratch service: its tables, its handler map and its three topics."""

    def __init__(self, scratch, topics: dict[str, str]) -> None:
        self.scratch = scratch
        self.topics = topics
        self.parked = parked_table(scratch.metadata)
        self.cases = Table(
            "cases",
            scratch.metadata,
            Column("dispute_id", String(64), primary_key=True),
            Column("status", String(20), nullable=False),
            Column("amount", String(20), nullable=False),
            Column("respond_by", DateTime(timezone=True)),
        )
        self.handlers = handler_map(
            {
                DisputeReceivedV1: self.on_received,
                DisputeUpdatedV1: self.on_updated,
                EvidenceValidatedV1: self.on_validated,
            },
            parked=self.parked,
        )

    async def applied(self, session, event: Envelope) -> None:
        # Written before a handler may defer: the savepoint must take it back when it does.
        await session.execute(insert(self.scratch.handled).values(event_id=event.id, dispute_id=event.subject, seq=0))

    async def case(self, session, event: Envelope):
        row = (
            await session.execute(select(self.cases).where(self.cases.c.dispute_id == event.subject).with_for_update())
        ).one_or_none()
        if row is None:
            raise Deferred("case not received yet")
        return row

    async def move(self, session, case, status: str | None, **values) -> None:
        if status and RANK[status] > RANK[case.status]:  # status only moves forward
            values["status"] = status
        if values:
            await session.execute(update(self.cases).where(self.cases.c.dispute_id == case.dispute_id).values(values))

    async def on_received(self, session, event: Envelope[DisputeReceivedV1], ctx) -> None:
        await self.applied(session, event)
        row = {"dispute_id": event.subject, "status": "received", "amount": event.data.amount.value}
        await session.execute(pg_insert(self.cases).values(row).on_conflict_do_nothing())

    async def on_updated(self, session, event: Envelope[DisputeUpdatedV1], ctx) -> None:
        await self.applied(session, event)
        case = await self.case(session, event)
        d = event.data
        values = {k: v for k, v in {"respond_by": d.respond_by, "amount": d.amount and d.amount.value}.items() if v}
        status = d.outcome if d.change == "closed" else "accepted" if d.change == "accepted" else None
        await self.move(session, case, status, **values)

    async def on_validated(self, session, event: Envelope[EvidenceValidatedV1], ctx) -> None:
        await self.applied(session, event)
        await self.move(session, await self.case(session, event), event.data.status)

    def consumer(self, kafka, producer) -> EventConsumer:
        return EventConsumer(
            service="desk",
            context=None,
            group_id=f"g-{self.scratch.schema}",
            handlers=self.handlers,
            sessions=self.scratch.sessions,
            inbox_table=self.scratch.inbox_table,
            producer=producer,
            bootstrap_servers=kafka,
            topics=list(self.topics.values()),
            settings=ServiceSettings(consumer_max_attempts=3, consumer_retry_backoff_ms=10),
        )

    async def send(self, producer, event: Envelope) -> None:
        await producer.send_and_wait(self.topics[event.type], event.to_bytes(), key=event.key)

    async def rows(self, table: Table, *where) -> list:
        async with session_scope(self.scratch.sessions) as session:
            return list(await session.execute(select(table).where(*where)))

    async def inbox_count(self) -> int:
        async with session_scope(self.scratch.sessions) as session:
            return (await session.execute(select(func.count()).select_from(self.scratch.inbox_table))).scalar_one()

    async def case_of(self, dispute_id: str) -> dict | None:
        rows = await self.rows(self.cases, self.cases.c.dispute_id == dispute_id)
        return {k: v for k, v in rows[0]._mapping.items() if k != "dispute_id"} if rows else None

    async def applied_ids(self, dispute_id: str) -> list[uuid.UUID]:
        return sorted(
            r.event_id for r in await self.rows(self.scratch.handled, self.scratch.handled.c.dispute_id == dispute_id)
        )


def story(dispute_id: str) -> list[Envelope]:
    """One dispute's life, in order: received, new deadline, evidence ready, closed as won."""
    updated = DisputeUpdatedV1(
        dispute_id=dispute_id,
        seller_id="V-TEST",
        change="updated",
        respond_by="2026-10-02T23:59:59+09:00",
        amount=Money(value="30000", currency="KRW"),
    )
    validated = EvidenceValidatedV1(dispute_id=dispute_id, report_id=uuid.uuid4(), status="ready", ruleset_version="t")
    closed = DisputeUpdatedV1(dispute_id=dispute_id, seller_id="V-TEST", change="closed", outcome="won")
    return [dispute_received(dispute_id, 1)] + [new_event(d, source="tests") for d in (updated, validated, closed)]


@pytest.fixture
async def desk(scratch, kafka, engine):
    topics = {
        t: f"test-{t.replace('.', '-')}-{uuid.uuid4().hex[:6]}"
        for t in ("dispute.received", "dispute.updated", "evidence.validated")
    }
    await ensure_topics(kafka, partitions=3, names=[n for t in topics.values() for n in (t, dlq_topic(t))])
    desk = Desk(scratch, topics)
    async with engine.begin() as conn:
        await conn.run_sync(scratch.metadata.create_all)  # the parked and cases tables
    return desk


async def dead_letters(kafka, desk) -> int:
    total = 0
    for topic in desk.topics.values():
        total += sum((await end_offsets(kafka, dlq_topic(topic))).values())
    return total


async def deliver_one_by_one(desk, producer, events: list[Envelope]) -> None:
    """Each event is consumed (handled or parked) before the next is sent: the order is exact."""
    for event in events:
        before = await desk.inbox_count()
        await desk.send(producer, event)
        await eventually(lambda n=before: _more_than(desk, n), timeout_s=20)


async def _more_than(desk, before: int) -> bool:
    return await desk.inbox_count() > before


async def test_a_disputes_events_in_reverse_order_end_in_the_same_state_as_in_order(desk, kafka, producer):
    in_order, reverse = desk.scratch.dispute_id(1), desk.scratch.dispute_id(2)
    async with running(desk.consumer(kafka, producer)):
        await deliver_one_by_one(desk, producer, story(in_order))
        backwards = list(reversed(story(reverse)))
        await deliver_one_by_one(desk, producer, backwards[:-1])
        assert len(await desk.rows(desk.parked)) == 3  # all waiting for dispute.received
        assert await desk.case_of(reverse) is None and await desk.applied_ids(reverse) == []
        await deliver_one_by_one(desk, producer, backwards[-1:])

    expected = {"status": "won", "amount": "30000", "respond_by": story(in_order)[1].data.respond_by}
    assert await desk.case_of(in_order) == expected
    assert await desk.case_of(reverse) == expected
    assert await desk.applied_ids(reverse) == sorted(e.id for e in backwards)  # each applied exactly once
    assert await desk.rows(desk.parked) == []
    assert await dead_letters(kafka, desk) == 0


async def test_events_arriving_together_in_reverse_are_sorted_out_within_one_batch(desk, kafka, producer):
    dispute = desk.scratch.dispute_id(3)
    events = list(reversed(story(dispute)))
    for event in events:  # all on Kafka before the consumer starts: one fetch, one transaction
        await desk.send(producer, event)
    async with running(desk.consumer(kafka, producer)):
        await eventually(lambda: _more_than(desk, len(events) - 1), timeout_s=20)

    assert (await desk.case_of(dispute))["status"] == "won"
    assert await desk.applied_ids(dispute) == sorted(e.id for e in events)
    assert await desk.rows(desk.parked) == []
    assert await dead_letters(kafka, desk) == 0


async def test_a_fact_that_never_comes_leaves_the_event_parked_and_visible_in_the_metric(desk, kafka, producer):
    dispute = desk.scratch.dispute_id(4)
    orphan = story(dispute)[3]
    async with running(desk.consumer(kafka, producer)):
        await deliver_one_by_one(desk, producer, [orphan])
    await asyncio.sleep(0.2)

    [row] = await desk.rows(desk.parked)
    assert (row.event_id, row.dispute_id, row.dataschema) == (orphan.id, dispute, "dispute.updated/v1")
    assert row.reason == "case not received yet"
    assert await dead_letters(kafka, desk) == 0

    registry = CollectorRegistry()
    count, age = await refresh_parked_metrics(registry, desk.scratch.sessions, desk.scratch.metadata)
    assert count == 1 and age > 0.1
    scraped = generate_latest(registry).decode()
    assert f'dd_parked_events{{service="{desk.scratch.schema}"}} 1.0' in scraped
    assert f'dd_parked_oldest_age_seconds{{service="{desk.scratch.schema}"}}' in scraped


async def test_a_fact_recorded_outside_a_handler_releases_the_parked_events(desk, kafka, producer):
    dispute = desk.scratch.dispute_id(5)
    closed = story(dispute)[3]
    async with running(desk.consumer(kafka, producer)):
        await deliver_one_by_one(desk, producer, [closed])
    assert len(await desk.rows(desk.parked)) == 1

    async with session_scope(desk.scratch.sessions) as session:  # e.g. a case created by an HTTP import
        await session.execute(insert(desk.cases).values(dispute_id=dispute, status="received", amount="45000"))
        assert await desk.handlers.release_parked(session, dispute, None) == 1

    assert (await desk.case_of(dispute))["status"] == "won"
    assert await desk.rows(desk.parked) == []


async def test_a_parked_event_waits_for_the_fact_a_concurrent_transaction_commits(desk):
    """The race the parking lock is for: the fact is uncommitted while the early event defers."""
    dispute = desk.scratch.dispute_id(6)
    received, updated = story(dispute)[0], story(dispute)[1]
    fact_written = asyncio.Event()

    async def early_event() -> None:
        await fact_written.wait()
        async with session_scope(desk.scratch.sessions) as session:
            await desk.handlers[updated.dataschema](session, updated, None)

    early = asyncio.create_task(early_event())
    async with session_scope(desk.scratch.sessions) as session:
        await desk.handlers[received.dataschema](session, received, None)  # its release check finds nothing
        fact_written.set()
        # Commit once the early event is done, or after it waited a second (on the parking lock).
        await asyncio.wait([early], timeout=1.0)
    await asyncio.wait_for(early, 20)

    assert (await desk.case_of(dispute))["amount"] == "30000"  # applied, not left parked
    assert await desk.rows(desk.parked) == []
    assert sorted(await desk.applied_ids(dispute)) == sorted([received.id, updated.id])


async def deliver(handlers, sessions, *events: Envelope) -> None:
    """Each event in its own transaction, as the consumer's one-by-one path does."""
    for event in events:
        async with session_scope(sessions) as session:
            await handlers[event.dataschema](session, event, None)


async def test_parked_events_that_wait_on_each_other_are_applied_over_several_passes(desk):
    dispute = desk.scratch.dispute_id(7)
    received, _, validated, _ = story(dispute)
    scheduled = new_event(
        DeadlineScheduledV1(dispute_id=dispute, due_at="2026-10-02T14:59:59Z", business_days=5, rule="computed"),
        source="tests",
    )
    alerted = new_event(
        DeadlineAlertedV1(dispute_id=dispute, alert="reminder", due_at="2026-10-02T14:59:59Z", hours_left=24),
        source="tests",
    )

    async def on_scheduled(session, event: Envelope[DeadlineScheduledV1], ctx) -> None:
        await desk.applied(session, event)
        if (await desk.case(session, event)).status != "ready":
            raise Deferred("evidence not validated yet")

    async def on_alerted(session, event: Envelope[DeadlineAlertedV1], ctx) -> None:
        raise Deferred("waits for a fact that never comes")

    handlers = handler_map(
        {
            DisputeReceivedV1: desk.on_received,
            EvidenceValidatedV1: desk.on_validated,
            DeadlineScheduledV1: on_scheduled,
            DeadlineAlertedV1: on_alerted,
        },
        parked=desk.parked,
    )
    # Parked in this order, so the first pass meets `scheduled` before the `validated` it needs.
    await asyncio.wait_for(deliver(handlers, desk.scratch.sessions, alerted, scheduled, validated, received), 20)

    assert await desk.applied_ids(dispute) == sorted([received.id, validated.id, scheduled.id])
    assert [r.event_id for r in await desk.rows(desk.parked)] == [alerted.id]  # kept, and no endless loop


async def test_a_parked_event_whose_replay_fails_stays_parked_with_its_error_and_the_fact_still_commits(desk):
    dispute = desk.scratch.dispute_id(8)
    received = story(dispute)[0]
    verdict = new_event(VerdictReturnedV1(dispute_id=dispute, outcome="won"), source="tests")

    async def on_verdict(session, event: Envelope[VerdictReturnedV1], ctx) -> None:
        await desk.case(session, event)
        raise RuntimeError("verdict store unreachable")

    handlers = handler_map({DisputeReceivedV1: desk.on_received, VerdictReturnedV1: on_verdict}, parked=desk.parked)
    await deliver(handlers, desk.scratch.sessions, verdict, received)

    assert (await desk.case_of(dispute))["status"] == "received"
    [row] = await desk.rows(desk.parked)
    assert row.event_id == verdict.id and "verdict store unreachable" in row.reason
