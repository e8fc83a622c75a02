"""Batched handlers in the one handler map: a run of new events of a hot type in one call, parked
events of all its disputes released, and the same function serving single events."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, String, Table, insert, select

from shared.contracts import DisputeReceivedV1, DisputeUpdatedV1, new_event
from shared.db.inbox import Inbox
from shared.db.parking import parked_table
from shared.db.session import session_scope
from shared.kafka.apply import Incoming, apply_events
from shared.kafka.handlers import Deferred, handler_map
from tests.support import dispute_received


class Desk:
    def __init__(self, scratch) -> None:
        self.scratch = scratch
        self.parked = parked_table(scratch.metadata)
        self.cases = Table("cases", scratch.metadata, Column("dispute_id", String(64), primary_key=True))
        self.calls: list[list[str]] = []
        self.log: list[str] = []
        self.handlers = handler_map(
            {DisputeUpdatedV1: self.on_updated}, parked=self.parked, batched={DisputeReceivedV1: self.on_received}
        )

    async def on_received(self, session, events, ctx) -> None:
        self.calls.append([e.subject for e in events])
        self.log.extend(f"received {e.subject}" for e in events)
        await session.execute(insert(self.cases), [{"dispute_id": e.subject} for e in events])

    async def on_updated(self, session, event, ctx) -> None:
        found = await session.execute(select(self.cases).where(self.cases.c.dispute_id == event.subject))
        if found.first() is None:
            raise Deferred("case not received yet")
        self.log.append(f"updated {event.subject}")

    async def deliver(self, *events) -> list[str]:
        inbox = Inbox(self.scratch.inbox_table, consumer="desk")
        async with session_scope(self.scratch.sessions) as session:
            return await apply_events(session, inbox, self.handlers, [Incoming.of(e) for e in events], context=None)


@pytest.fixture
async def desk(scratch, engine):
    desk = Desk(scratch)
    async with engine.begin() as conn:
        await conn.run_sync(scratch.metadata.create_all)
    return desk


def updated(dispute_id: str):
    return new_event(DisputeUpdatedV1(dispute_id=dispute_id, seller_id="V", change="updated"), source="tests")


async def test_a_run_of_batched_events_is_one_call_and_order_is_kept(desk, scratch):
    a, b, c = (scratch.dispute_id(n) for n in range(3))
    first = dispute_received(a, 0)
    outcomes = await desk.deliver(first, dispute_received(b, 1), updated(a), first, dispute_received(c, 2))
    assert outcomes == ["handled", "handled", "handled", "duplicate", "handled"]
    assert desk.calls == [[a, b], [c]]
    assert desk.log == [f"received {a}", f"received {b}", f"updated {a}", f"received {c}"]


async def test_events_parked_for_any_dispute_of_a_run_are_released_by_it(desk, scratch):
    a, b = scratch.dispute_id(0), scratch.dispute_id(1)
    assert await desk.deliver(updated(b)) == ["handled"]  # parked: no case yet
    assert desk.log == []
    await desk.deliver(dispute_received(a, 0), dispute_received(b, 1))
    assert desk.log == [f"received {a}", f"received {b}", f"updated {b}"]
    async with session_scope(scratch.sessions) as session:
        assert (await session.execute(select(desk.parked))).first() is None


async def test_a_single_event_of_a_batched_type_is_a_batch_of_one(desk, scratch):
    a = scratch.dispute_id(0)
    async with session_scope(scratch.sessions) as session:
        await desk.handlers["dispute.received/v1"](session, dispute_received(a, 0), None)  # the one-by-one path
    assert desk.calls == [[a]]


def test_a_type_is_either_batched_or_single():
    async def fn(session, event, ctx) -> None: ...

    with pytest.raises(TypeError):
        handler_map({DisputeReceivedV1: fn}, batched={DisputeReceivedV1: fn})
