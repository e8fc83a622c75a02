"""The CloudEvents 1.0 envelope (structured JSON mode) every Kafka message carries.

`Envelope` is generic in its `data`: a handler of `dispute.received` takes an
`Envelope[DisputeReceivedV1]`. Plain `Envelope` (unparametrised) still means "any event".
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

# The Kafka `content-type` header of every event (the CloudEvents Kafka binding, structured mode): a
# CloudEvents SDK reading our topics tells the mode from it, as the binding says it should.
CONTENT_TYPE_HEADER = "content-type"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


class EventData(BaseModel):
    """Base of every event's `data`. Subclasses name their type and schema version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[str] = "v1"

    dispute_id: str = Field(min_length=1, max_length=64)

    @classmethod
    def dataschema(cls) -> str:
        return f"{cls.event_type}/{cls.schema_version}"


DataT = TypeVar("DataT", bound=EventData)


class Envelope(BaseModel, Generic[DataT]):
    """Fields shared by every event. The model of each event version (`ENVELOPES[cls]`) is a
    subclass of `Envelope[cls]` pinning `type` and `dataschema`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID
    type: str
    source: str = Field(min_length=1)
    time: AwareDatetime
    subject: str = Field(min_length=1)
    sellerid: str | None = None
    dataschema: str
    datacontenttype: Literal["application/json"] = "application/json"
    data: DataT

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @property
    def key(self) -> bytes:
        """Kafka key: the dispute id, so one dispute's events stay ordered on one partition."""
        return self.subject.encode()

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode()

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
