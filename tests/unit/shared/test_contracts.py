"""Event contracts: envelope shape, round trips, and clear refusals."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from pydantic import ValidationError

from shared.contracts import (
    ENVELOPES,
    DisputeReceivedV1,
    DisputeUpdatedV1,
    Envelope,
    EventParseError,
    Money,
    new_event,
    parse_event,
    topics,
)
from tests.support import ONE_OF_EACH, dispute_received


def test_there_is_one_envelope_model_per_event_type_of_the_spec():
    assert {cls.event_type for cls in ENVELOPES} == set(topics.EVENT_TOPICS)


@pytest.mark.parametrize("data", ONE_OF_EACH, ids=lambda d: d.event_type)
def test_every_event_survives_a_round_trip_through_bytes(data):
    event = new_event(data, source="tests", seller_id="V1")
    parsed = parse_event(event.to_bytes())
    assert parsed == event
    assert type(parsed) is type(event)
    assert parsed.type == data.event_type == event.dataschema.split("/")[0]


def test_envelope_is_cloudevents_structured_json_keyed_by_dispute_id():
    event = new_event(dispute_received("CD-2026-000123", 1).data, source="ingest", seller_id="V-1")
    body = json.loads(event.to_bytes())
    assert body["specversion"] == "1.0"
    assert body["type"] == "dispute.received"
    assert body["dataschema"] == "dispute.received/v1"
    assert body["datacontenttype"] == "application/json"
    assert body["subject"] == "CD-2026-000123" and body["sellerid"] == "V-1"
    assert body["time"].endswith("Z")
    assert event.key == b"CD-2026-000123"


def test_events_are_frozen():
    event = new_event(dispute_received("CD-1", 1).data, source="tests")
    with pytest.raises(ValidationError):
        event.subject = "CD-2"  # type: ignore[misc]


def test_respond_by_may_be_a_date_alone():
    data = dispute_received("CD-1", 1).data.model_copy(update={"respond_by": date(2026, 9, 30)})
    parsed = parse_event(new_event(data, source="tests").to_bytes())
    assert parsed.data.respond_by == date(2026, 9, 30)


@pytest.mark.parametrize(
    "raw, says",
    [
        (b"{not json", "Invalid JSON"),
        (b'{"specversion": "1.0"}', "dataschema"),
        (b'{"dataschema": "dispute.received/v9"}', "dispute.received/v9"),
        (b"\xff\xfe", "Invalid JSON"),
    ],
)
def test_bytes_that_are_not_a_known_event_are_refused_with_a_reason(raw, says):
    with pytest.raises(EventParseError, match="not a valid event") as err:
        parse_event(raw)
    assert says in str(err.value)


def test_a_missing_field_is_named_in_the_error():
    body = json.loads(dispute_received("CD-1", 1).to_bytes())
    del body["data"]["order_id"]
    with pytest.raises(EventParseError, match="order_id"):
        parse_event(json.dumps(body))


def test_amounts_are_decimal_strings_with_a_currency():
    with pytest.raises(ValidationError):
        Money(value="45,000", currency="KRW")
    with pytest.raises(ValidationError):
        Money(value="45000", currency="won")


def test_every_event_topic_has_its_dead_letter_twin_among_the_topics_created():
    assert topics.DISPUTE_UPDATED in topics.EVENT_TOPICS
    assert set(topics.ALL_TOPICS) == set(topics.EVENT_TOPICS) | {topics.dlq_topic(t) for t in topics.EVENT_TOPICS}
    assert "dispute.updated.dlq" in topics.ALL_TOPICS


def test_an_envelope_is_generic_in_its_data():
    event = new_event(DisputeUpdatedV1(dispute_id="CD-1", seller_id="V-1", change="accepted"), source="ingest")
    assert isinstance(event, Envelope[DisputeUpdatedV1]) and isinstance(event, Envelope)
    assert not isinstance(event, Envelope[DisputeReceivedV1])
    assert issubclass(ENVELOPES[DisputeReceivedV1], Envelope[DisputeReceivedV1])
    assert event.type == "dispute.updated" and event.dataschema == "dispute.updated/v1"


def test_a_plain_envelope_still_carries_any_event_whole():
    data = dispute_received("CD-1", 1).data
    plain = Envelope(
        id=uuid.uuid4(),
        type=data.event_type,
        source="tests",
        time="2026-09-23T01:15:00Z",
        subject="CD-1",
        dataschema=data.dataschema(),
        data=data,
    )
    assert parse_event(plain.to_bytes()).data == data  # serialised with every field of the data, not the base's


def test_a_closed_dispute_says_its_outcome():
    closed = DisputeUpdatedV1(dispute_id="CD-1", seller_id="V-1", change="closed", outcome="lost", status="lost")
    assert parse_event(new_event(closed, source="ingest").to_bytes()).data.outcome == "lost"
    with pytest.raises(ValidationError, match="outcome"):
        DisputeUpdatedV1(dispute_id="CD-1", seller_id="V-1", change="closed")


def test_only_a_closed_dispute_has_an_outcome():
    with pytest.raises(ValidationError, match="outcome"):
        DisputeUpdatedV1(dispute_id="CD-1", seller_id="V-1", change="updated", outcome="won")


@pytest.mark.parametrize("field, value", [("change", "reopened"), ("status", "lost_forever"), ("reason_code", "X")])
def test_a_dispute_update_refuses_values_outside_its_vocabulary(field, value):
    with pytest.raises(ValidationError, match=field):
        DisputeUpdatedV1(**{"dispute_id": "CD-1", "seller_id": "V-1", "change": "updated", field: value})
