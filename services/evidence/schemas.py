"""HTTP models of the evidence service (never Kafka events). Request meta: see meta.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Row

from services.evidence.facts import facts_summary

ID_PATTERN = r"^[^\s\x00-\x1f\x7f/]{1,64}$"


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class EvidenceOut(_Out):
    evidence_id: uuid.UUID
    dispute_id: str
    kind: str
    source: str | None
    meta: dict[str, Any]
    sha256: str | None
    size: int | None
    media_type: str | None
    filename: str | None
    uploader: str
    uploaded_at: datetime
    captured_at: datetime | None
    facts: dict[str, Any] | None  # what extraction read: readable / unreadable_reason, language, pages, ...
    content_url: str | None
    deleted_at: datetime | None = None

    @classmethod
    def of(cls, row: Row[Any]) -> EvidenceOut:
        return cls(
            evidence_id=row.id,
            dispute_id=row.dispute_id,
            kind=row.kind,
            source=row.source,
            meta=row.meta,
            sha256=row.sha256,
            size=row.size,
            media_type=row.media_type,
            filename=row.filename,
            uploader=row.uploader,
            uploaded_at=row.uploaded_at,
            captured_at=row.captured_at,
            facts=facts_summary(row.facts),
            content_url=f"/v1/cases/{row.dispute_id}/evidence/{row.id}/content" if row.sha256 else None,
            deleted_at=row.deleted_at,
        )


class EvidenceList(_Out):
    dispute_id: str
    due_at: datetime | None
    set_version: int
    items: list[EvidenceOut]


class ImageTextOut(_Out):
    """The line of an image's OCR text a finding rests on, for the dashboard to mark."""

    text: str
    box: list[int] | None  # left, top, width, height in the image's pixels
    confidence: int | None  # the line's OCR confidence, 0..100


class FindingOut(_Out):
    rule: str
    severity: Literal["blocker", "warning"]
    evidence_id: str | None
    fields: list[str]
    message: str
    fix: str
    image_text: ImageTextOut | None = None  # findings read from a screenshot quote the line


class EvidenceRefOut(_Out):
    evidence_id: str
    kind: str
    sha256: str | None
    captured_at: str | None = None  # the capture time the checker used (ISO 8601, or an image's `05-12 14:22`)
    captured_from: Literal["meta", "exif", "image_text"] | None = None  # and where it came from


class LegalBasisOut(_Out):
    id: str
    law: str
    article: str
    title: str
    summary: str


class ReportOut(_Out):
    report_id: uuid.UUID
    dispute_id: str
    lang: str
    status: Literal["ready", "needs_fix"]
    stale: bool  # the evidence set changed since this report: check again
    trigger: str  # debounce | request
    ruleset_version: str
    checked_at: datetime
    reason_code: str
    legal_basis: list[LegalBasisOut]
    findings: list[FindingOut]
    evidence_set: list[EvidenceRefOut]


class TemplateOut(_Out):
    text: str
    example: str


class TemplatesOut(_Out):
    reason_code: str
    lang: str
    ruleset_version: str
    templates: list[TemplateOut]
    legal_basis: list[LegalBasisOut]
