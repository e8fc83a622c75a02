"""Event contracts: the CloudEvents envelope, topic names and one model per event type.

event = new_event(DisputeReceivedV1(...), source="ingest", seller_id="V1")
event = parse_event(raw_bytes)   # -> an Envelope[DisputeReceivedV1] | Envelope[EvidenceUploadedV1] | ...
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError, create_model

from shared.contracts import topics
from shared.contracts.envelope import DataT, Envelope, EventData
from shared.contracts.events import (
    EVENT_DATA_TYPES,
    CaseStatus,
    CaseSubmittedV1,
    DeadlineAlertedV1,
    DeadlineScheduledV1,
    DisputeChange,
    DisputeKind,
    DisputeReceivedV1,
    DisputeUpdatedV1,
    EvidenceKind,
    EvidenceRef,
    EvidenceUploadedV1,
    EvidenceValidatedV1,
    Finding,
    Money,
    ReasonCode,
    VerdictReturnedV1,
)


class EventParseError(ValueError):
    """Bytes that are not a known, valid event. Never retried: it goes to the DLQ."""


def _envelope_model(data_cls: type[EventData]) -> type[Envelope]:
    # One envelope model per event version, pinning type, dataschema and data.
    name = "".join(part.capitalize() for part in data_cls.event_type.split(".")) + "Event"
    schema = data_cls.dataschema()
    return create_model(
        f"{name}{data_cls.schema_version.upper()}",
        __base__=Envelope[data_cls],  # type: ignore[valid-type]
        type=(Literal[data_cls.event_type], data_cls.event_type),  # type: ignore[valid-type]
        dataschema=(Literal[schema], schema),  # type: ignore[valid-type]
    )


ENVELOPES: dict[type[EventData], type[Envelope]] = {cls: _envelope_model(cls) for cls in EVENT_DATA_TYPES}
ENVELOPE_BY_SCHEMA: dict[str, type[Envelope]] = {cls.dataschema(): env for cls, env in ENVELOPES.items()}

# Union over a runtime tuple of models; `X | Y` syntax cannot be built from a tuple.
AnyEvent = Annotated[Union[tuple(ENVELOPES.values())], Field(discriminator="dataschema")]  # noqa: UP007
_any_event = TypeAdapter(AnyEvent)


def new_event(
    data: EventData,
    *,
    source: str,
    seller_id: str | None = None,
    event_id: uuid.UUID | None = None,
    time: datetime | None = None,
) -> Envelope:
    """Wrap `data` in its envelope; the subject (and Kafka key) is the dispute id."""
    envelope_cls = ENVELOPES[type(data)]
    return envelope_cls(
        id=event_id or uuid.uuid4(),
        source=source,
        time=time or datetime.now(UTC),
        subject=data.dispute_id,
        sellerid=seller_id,
        data=data,
    )


def parse_event(raw: bytes | str) -> Envelope:
    """Bytes of one Kafka message to its event model, or EventParseError saying what is wrong."""
    try:
        return _any_event.validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise EventParseError(f"not a valid event: {problems}") from exc


__all__ = [
    "AnyEvent",
    "CaseStatus",
    "CaseSubmittedV1",
    "DeadlineAlertedV1",
    "DeadlineScheduledV1",
    "DisputeKind",
    "DataT",
    "DisputeChange",
    "DisputeReceivedV1",
    "DisputeUpdatedV1",
    "ENVELOPES",
    "Envelope",
    "EventData",
    "EventParseError",
    "EvidenceKind",
    "EvidenceRef",
    "EvidenceUploadedV1",
    "EvidenceValidatedV1",
    "Finding",
    "Money",
    "ReasonCode",
    "VerdictReturnedV1",
    "new_event",
    "parse_event",
    "topics",
]
