"""Event payloads, version 1. Frozen; changes are additive, a breaking change is a new version.

Each `*V1` class is the `data` of one event type; `ENVELOPES[cls]` (a subclass of
`Envelope[cls]`) is the matching CloudEvents model, and `parse_event` (in `shared.contracts`)
turns bytes into one of them.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.contracts import topics
from shared.contracts.envelope import EventData

DecimalString = Field(pattern=r"^-?\d{1,15}(\.\d{1,4})?$")


class Money(BaseModel):
    """An amount as a decimal string (KRW has no minor unit) and an ISO 4217 currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str = DecimalString
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class DisputeKind(StrEnum):
    chargeback = "chargeback"
    platform_dispute = "platform_dispute"


class ReasonCode(StrEnum):
    NOT_RECEIVED = "NOT_RECEIVED"
    NOT_AS_DESCRIBED = "NOT_AS_DESCRIBED"
    DAMAGED = "DAMAGED"
    DUPLICATE_CHARGE = "DUPLICATE_CHARGE"
    UNAUTHORIZED = "UNAUTHORIZED"
    CREDIT_NOT_PROCESSED = "CREDIT_NOT_PROCESSED"
    OTHER = "OTHER"


class DisputeChange(StrEnum):
    updated = "updated"  # fields of an open case changed, e.g. a new respond_by
    accepted = "accepted"  # the seller conceded, by hand or by a seller rule
    closed = "closed"  # decided outside the system; `outcome` says how


class CaseStatus(StrEnum):
    """The case statuses of SPEC section 4 (status only moves forward)."""

    received = "received"
    evidence_pending = "evidence_pending"
    needs_fix = "needs_fix"
    ready = "ready"
    submitted = "submitted"
    won = "won"
    lost = "lost"
    partial = "partial"
    accepted = "accepted"
    expired = "expired"


Outcome = Literal["won", "lost", "partial"]
# The languages a seller reads its reports and messages in.
Language = Literal["zh", "ko", "en"]


class EvidenceKind(StrEnum):
    shipping_label = "shipping_label"
    tracking_record = "tracking_record"
    proof_of_delivery = "proof_of_delivery"
    message_log = "message_log"
    product_photo = "product_photo"
    product_listing = "product_listing"
    invoice = "invoice"
    refund_record = "refund_record"
    translation = "translation"
    statement = "statement"
    other = "other"


class EvidenceRef(BaseModel):
    """One item of an evidence set, pinned by content hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    evidence_id: uuid.UUID
    kind: EvidenceKind
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    severity: Literal["blocker", "warning"]
    evidence_id: uuid.UUID | None = None


class DisputeReceivedV1(EventData):
    event_type: ClassVar[str] = topics.DISPUTE_RECEIVED

    seller_id: str = Field(min_length=1, max_length=64)
    notice_id: str
    kind: DisputeKind
    order_id: str
    amount: Money
    reason_code: ReasonCode
    raw_reason_code: str | None = None
    reason_text: str | None = None
    buyer_id: str | None = None
    notified_at: AwareDatetime
    # A date alone means 23:59:59 KST of that date (SPEC section 6); the deadline service decides.
    respond_by: AwareDatetime | date | None = None
    # Added compatibly: the seller's default language (ingest's seller rules) when the dispute
    # arrived, so services that render for the seller default to it (`?lang=` still wins).
    language: Language | None = None


class DisputeUpdatedV1(EventData):
    """A known dispute changed. Only the fields that changed are set; the others stay None."""

    event_type: ClassVar[str] = topics.DISPUTE_UPDATED

    seller_id: str = Field(min_length=1, max_length=64)
    change: DisputeChange
    respond_by: AwareDatetime | date | None = None
    amount: Money | None = None
    # Added compatibly: an amended order id. The webhook refuses to change it (`field_immutable`),
    # but a consumer that keeps case facts applies it when another producer sends one.
    order_id: str | None = Field(default=None, min_length=1, max_length=64)
    reason_code: ReasonCode | None = None
    raw_reason_code: str | None = None
    reason_text: str | None = None
    status: CaseStatus | None = None
    outcome: Outcome | None = None  # set exactly when change is `closed`

    @model_validator(mode="after")
    def _outcome_exactly_when_closed(self) -> DisputeUpdatedV1:
        if (self.change == DisputeChange.closed) != (self.outcome is not None):
            raise ValueError("outcome is required when change is 'closed' and allowed only then")
        return self


class EvidenceUploadedV1(EventData):
    event_type: ClassVar[str] = topics.EVIDENCE_UPLOADED

    evidence_id: uuid.UUID
    kind: EvidenceKind
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    size: int | None = Field(default=None, ge=0)
    media_type: str | None = None
    source: str | None = None
    captured_at: AwareDatetime | None = None
    # Added compatibly (default `added`): a delete also emits evidence.uploaded, so the set's
    # readers (ingest's status, submit) know the item left the set.
    change: Literal["added", "deleted"] = "added"
    # Added compatibly: the canonical id of the carrier the item names with a tracking number
    # (`cj`, `logen`, … or a refused one like `zto`), so the case read model can count by carrier.
    carrier: str | None = Field(default=None, min_length=1, max_length=32)


class EvidenceValidatedV1(EventData):
    event_type: ClassVar[str] = topics.EVIDENCE_VALIDATED

    report_id: uuid.UUID
    status: Literal["ready", "needs_fix"]
    ruleset_version: str
    findings: tuple[Finding, ...] = ()
    evidence_set: tuple[EvidenceRef, ...] = ()


class DeadlineScheduledV1(EventData):
    event_type: ClassVar[str] = topics.DEADLINE_SCHEDULED

    due_at: AwareDatetime
    business_days: int = Field(ge=0)
    rule: Literal["computed", "explicit"]
    reminder_offsets_minutes: tuple[int, ...] = ()


class DeadlineAlertedV1(EventData):
    event_type: ClassVar[str] = topics.DEADLINE_ALERTED

    alert: Literal["reminder", "missed"]
    due_at: AwareDatetime
    hours_left: float
    # Which reminder fired (minutes before due_at); None for `missed`. Added compatibly (optional).
    offset_minutes: int | None = Field(default=None, gt=0)


class CaseSubmittedV1(EventData):
    event_type: ClassVar[str] = topics.CASE_SUBMITTED

    receipt_id: str
    adapter: Literal["http", "manual"]
    submitted_at: AwareDatetime
    package_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    evidence_set: tuple[EvidenceRef, ...] = ()


class VerdictReturnedV1(EventData):
    event_type: ClassVar[str] = topics.VERDICT_RETURNED

    outcome: Outcome
    amount: Money | None = None
    policy_clause: str | None = None
    summary_zh: str = ""
    suggestions: tuple[str, ...] = ()


EVENT_DATA_TYPES: tuple[type[EventData], ...] = (
    DisputeReceivedV1,
    DisputeUpdatedV1,
    EvidenceUploadedV1,
    EvidenceValidatedV1,
    DeadlineScheduledV1,
    DeadlineAlertedV1,
    CaseSubmittedV1,
    VerdictReturnedV1,
)
