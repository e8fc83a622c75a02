"""Request and response bodies of the submit API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import Money


class SubmitRequest(BaseModel):
    """What the seller confirms: the case's dispute id, order id and amount, and (optionally) the report they saw."""

    model_config = ConfigDict(extra="forbid")

    dispute_id: str = Field(min_length=1, max_length=64)
    order_id: str = Field(min_length=1, max_length=64)
    amount: Money
    report_id: uuid.UUID | None = None


class ReceiptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receipt_number: str = Field(min_length=1, max_length=64)


class PortalSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    adapter: Literal["http", "manual"]
    endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=500)
    vendor_id: str | None = Field(default=None, min_length=1, max_length=64)


class PortalSettingsOut(BaseModel):
    seller_id: str
    adapter: Literal["http", "manual"]
    endpoint: str
    vendor_id: str


class VerdictOut(BaseModel):
    outcome: Literal["won", "lost", "partial"]
    amount: Money | None
    policy_clause: str | None
    summary_zh: str
    suggestions: list[str]
    decided_at: datetime | None
    source: str


class SubmissionOut(BaseModel):
    dispute_id: str
    adapter: Literal["http", "manual"]
    state: Literal["pending", "sent", "receipted"]
    receipt_id: str | None
    portal_received_at: datetime | None
    submitted_at: datetime | None
    package_sha256: str
    package_size: int
    report_id: uuid.UUID
    evidence_set: list[dict[str, Any]]
    files: list[dict[str, Any]]  # the manifest's entries
    verdict: VerdictOut | None = None


class VerdictData(BaseModel):
    """The `data` of the portal's signed `verdict.returned` callback (services/portal_sim/README.md)."""

    model_config = ConfigDict(extra="ignore")

    dispute_id: str = Field(min_length=1, max_length=64)
    receipt_id: str | None = Field(default=None, max_length=128)
    vendor_id: str | None = None
    outcome: Literal["won", "lost", "partial"]
    amount: Money | None = None
    policy_clause: str | None = Field(default=None, max_length=500)
    decided_at: datetime | None = None


class VerdictCallback(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["verdict.returned"]
    data: VerdictData
