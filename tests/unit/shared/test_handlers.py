"""Typed handler maps: built from event classes, looked up by the consumer by dataschema."""

from __future__ import annotations

from typing import ClassVar

import pytest

from shared.contracts import DisputeReceivedV1, DisputeUpdatedV1, Envelope, EventData, EvidenceValidatedV1, new_event
from shared.kafka.consumer import topics_of
from shared.kafka.handlers import Deferred, HandlerMap, handler_map
from tests.support import dispute_received


class FakeSession:
    """Stands in for the session: these handlers never touch it."""


async def test_a_handler_map_built_from_classes_is_keyed_by_their_dataschema():
    seen: list[Envelope] = []

    async def on_received(session, event: Envelope[DisputeReceivedV1], ctx) -> None:
        seen.append(event)

    async def on_updated(session, event: Envelope[DisputeUpdatedV1], ctx) -> None:
        seen.append(event)

    handlers = handler_map({DisputeReceivedV1: on_received, DisputeUpdatedV1: on_updated})

    assert isinstance(handlers, HandlerMap)
    assert set(handlers) == {"dispute.received/v1", "dispute.updated/v1"}
    assert topics_of(handlers) == ("dispute.received", "dispute.updated")
    event = dispute_received("CD-1", 1)
    await handlers[event.dataschema](FakeSession(), event, None)
    assert seen == [event] and isinstance(seen[0].data, DisputeReceivedV1)
    assert handlers["dispute.received/v1"].__name__ == "on_received"  # logs and traces name the real handler


def test_a_string_key_is_refused():
    async def on_received(session, event, ctx) -> None: ...

    with pytest.raises(TypeError, match="event classes"):
        handler_map({"dispute.received/v1": on_received})  # type: ignore[dict-item]


def test_a_class_that_is_not_a_known_event_is_refused():
    class NotAnEventV1(EventData):
        event_type: ClassVar[str] = "not.an.event"

    async def handle(session, event, ctx) -> None: ...

    with pytest.raises(TypeError, match="NotAnEventV1"):
        handler_map({NotAnEventV1: handle})


def test_a_handler_that_is_not_callable_is_refused():
    with pytest.raises(TypeError, match="EvidenceValidatedV1"):
        handler_map({EvidenceValidatedV1: "on_validated"})  # type: ignore[dict-item]


async def test_without_a_parked_table_a_deferral_is_an_ordinary_failure():
    async def on_updated(session, event, ctx) -> None:
        raise Deferred("case not received yet")

    handlers = handler_map({DisputeUpdatedV1: on_updated})
    event = new_event(DisputeUpdatedV1(dispute_id="CD-1", seller_id="V-1", change="accepted"), source="tests")
    with pytest.raises(RuntimeError, match="case not received yet"):
        await handlers[event.dataschema](FakeSession(), event, None)


def test_deferred_carries_its_reason():
    assert Deferred("case not received yet").reason == "case not received yet"
