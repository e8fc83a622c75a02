"""What the dashboard reads from each service's JSON, as typed models (only the fields it shows).

The services' own schemas are theirs (services never import each other), so these mirror the parts
of their documented answers the page uses; unknown fields are ignored, so a service may add some.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Money(_In):
    value: str
    currency: str


# ------------------------------------------------------------------ ingest


class CaseDeadline(_In):
    due_at_utc: datetime
    due_at_kst: datetime
    due_at_beijing: datetime
    business_days: int | None = None
    rule: str | None = None
    seconds_left: int
    passed: bool


class TimelineEntry(_In):
    event_id: str
    type: str
    occurred_at: datetime
    applied: bool
    status_before: str | None = None
    status_after: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)


class Case(_In):
    dispute_id: str
    seller_id: str
    kind: str
    order_id: str
    amount: Money
    reason_code: str
    raw_reason_code: str | None = None
    reason_text: str | None = None
    buyer_id: str | None = None
    notified_at: datetime
    status: str
    deadline: CaseDeadline | None = None
    report: dict[str, Any] | None = None
    receipt_id: str | None = None
    submitted_at: datetime | None = None
    verdict: dict[str, Any] | None = None


class CaseDetail(Case):
    timeline: list[TimelineEntry] = Field(default_factory=list)


class CaseList(_In):
    items: list[Case]
    next_cursor: str | None = None


class BuyerRisk(_In):
    buyer_id: str
    window_days: int
    count: int
    abnormal: bool
    note_ko: str | None = None
    note_zh: str | None = None


class StatementLine(_In):
    kind: str
    dispute_id: str | None = None
    description: str
    amount: str
    source_amount: str | None = None
    source_currency: str | None = None
    capped: bool = False


class Statement(_In):
    seller_id: str
    month: str
    tier: str
    currency: str
    lines: list[StatementLine]
    total: str


# ------------------------------------------------------------------ deadline


class Times(_In):
    utc: datetime
    kst: datetime
    beijing: datetime


class SkippedDay(_In):
    date: str
    reason: str
    names_ko: list[str] = Field(default_factory=list)
    names_zh: list[str] = Field(default_factory=list)


class Reminder(_In):
    offset: str
    fire_at: datetime
    state: str
    fired_at: datetime | None = None


class Deadline(_In):
    dispute_id: str
    state: str
    rule: str
    due_at: Times
    business_days: int
    skipped: list[SkippedDay] = Field(default_factory=list)
    seconds_left: int
    reminders: list[Reminder] | None = None


# ------------------------------------------------------------------ evidence


class EvidenceItem(_In):
    evidence_id: str
    kind: str
    meta: dict[str, Any] = Field(default_factory=dict)
    sha256: str | None = None
    size: int | None = None
    media_type: str | None = None
    filename: str | None = None
    uploaded_at: datetime


class EvidenceList(_In):
    dispute_id: str
    set_version: int
    items: list[EvidenceItem]


class ImageText(_In):
    """The line of a screenshot a finding rests on (what OCR read there, or nothing when absence is the finding)."""

    text: str | None = None
    box: list[int] | None = None  # left, top, width, height in the image's pixels
    confidence: int | None = None


class Finding(_In):
    rule: str
    severity: str
    evidence_id: str | None = None
    fields: list[str] = Field(default_factory=list)
    message: str
    fix: str
    image_text: ImageText | None = None


class LegalBasis(_In):
    id: str
    law: str
    article: str
    title: str
    summary: str


class Report(_In):
    report_id: str
    lang: str
    status: str
    stale: bool
    ruleset_version: str
    checked_at: datetime
    findings: list[Finding]
    legal_basis: list[LegalBasis] = Field(default_factory=list)


class Template(_In):
    text: str
    example: str


class Templates(_In):
    lang: str
    templates: list[Template]


# ------------------------------------------------------------------ submit


class Verdict(_In):
    outcome: str
    amount: Money | None = None
    policy_clause: str | None = None
    summary_zh: str
    suggestions: list[str] = Field(default_factory=list)
    decided_at: datetime | None = None


class Submission(_In):
    dispute_id: str
    adapter: str
    state: str
    receipt_id: str | None = None
    submitted_at: datetime | None = None
    package_sha256: str
    verdict: Verdict | None = None
