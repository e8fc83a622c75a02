"""Event contracts: the CloudEvents envelope, topic names and one model per event type.

event = new_event(DisputeReceivedV1(...), source="ingest", seller_id="V1")
event = parse_event(raw_bytes)   # -> an Envelope[DisputeReceivedV1] | Envelope[EvidenceUploadedV1] | ...
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union

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
    Language,
    Money,
    Outcome,
    ReasonCode,
    VerdictReturnedV1,
)


class EventParseError(ValueError):
    """Bytes that are not a known, valid event. Never retried: it goes to the DLQ."""


def _envelope_model(data_cls: type[EventData]) -> type[Envelope[Any]]:
    # One envelope model per event version, pinning type, dataschema and data. The types are
    # built at runtime, from values: a static checker sees them as plain objects (`Any`).
    name = "".join(part.capitalize() for part in data_cls.event_type.split(".")) + "Event"
    schema = data_cls.dataschema()
    base: type[Envelope[Any]] = Envelope[data_cls]  # type: ignore[valid-type]  # parametrised at runtime
    pinned_type: Any = Literal[data_cls.event_type]
    pinned_schema: Any = Literal[schema]
    return create_model(
        f"{name}{data_cls.schema_version.upper()}",
        __base__=base,
        type=(pinned_type, data_cls.event_type),
        dataschema=(pinned_schema, schema),
    )


ENVELOPES: dict[type[EventData], type[Envelope[Any]]] = {cls: _envelope_model(cls) for cls in EVENT_DATA_TYPES}
ENVELOPE_BY_SCHEMA: dict[str, type[Envelope[Any]]] = {cls.dataschema(): env for cls, env in ENVELOPES.items()}

# Union over a runtime tuple of models; `X | Y` syntax cannot be built from a tuple. A value for
# pydantic, not a static type (a checker knows the result only as `Envelope[Any]`).
AnyEvent: Any = Annotated[Union[tuple(ENVELOPES.values())], Field(discriminator="dataschema")]  # noqa: UP007
_any_event: TypeAdapter[Envelope[Any]] = TypeAdapter(AnyEvent)


def new_event(
    data: EventData,
    *,
    source: str,
    seller_id: str | None = None,
    event_id: uuid.UUID | None = None,
    time: datetime | None = None,
) -> Envelope[Any]:
    """Wrap `data` in its envelope; the subject (and Kafka key) is the dispute id."""
    # Typed as a callable: the model's defaults for `type` and `dataschema` exist only at runtime.
    envelope_cls: Callable[..., Envelope[Any]] = ENVELOPES[type(data)]
    return envelope_cls(
        id=event_id or uuid.uuid4(),
        source=source,
        time=time or datetime.now(UTC),
        subject=data.dispute_id,
        sellerid=seller_id,
        data=data,
    )


def parse_event(raw: bytes | str) -> Envelope[Any]:
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
    "EVENT_DATA_TYPES",
    "Envelope",
    "EventData",
    "EventParseError",
    "EvidenceKind",
    "EvidenceRef",
    "EvidenceUploadedV1",
    "EvidenceValidatedV1",
    "Finding",
    "Language",
    "Money",
    "Outcome",
    "ReasonCode",
    "VerdictReturnedV1",
    "new_event",
    "parse_event",
    "topics",
]
