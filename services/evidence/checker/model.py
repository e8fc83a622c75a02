"""The checker's inputs and outputs: frozen values, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from shared.contracts import DisputeKind, EvidenceKind, ReasonCode

Severity = Literal["blocker", "warning"]
Status = Literal["ready", "needs_fix"]
CaptureSource = Literal["meta", "exif", "image_text"]  # where an item's capture time came from


@dataclass(frozen=True)
class Amount:
    value: Decimal
    currency: str


@dataclass(frozen=True)
class CaseFacts:
    dispute_id: str
    seller_id: str
    order_id: str
    amount: Amount
    reason_code: ReasonCode
    kind: DisputeKind
    notified_at: datetime | None = None  # when known, only later messages count as "during the dispute"


@dataclass(frozen=True)
class OcrLine:
    """One line of text Tesseract recognised in an image."""

    text: str
    confidence: float  # 0..100: the mean confidence of the line's words
    box: tuple[int, int, int, int]  # left, top, width, height, in the original image's pixels


@dataclass(frozen=True)
class OcrRead:
    """The text read from an image (or an image-only PDF page) by OCR."""

    text: str
    confidence: float  # 0..100: the mean word confidence over the whole image (0 when nothing was read)
    lines: tuple[OcrLine, ...] = ()
    languages: str = "kor+chi_sim+eng"  # Tesseract's language data used


@dataclass(frozen=True)
class ExtractedFacts:
    """What extraction read from the file's bytes (nothing when the item came without a file)."""

    readable: bool = True
    unreadable_reason: str | None = None  # encrypted | truncated | corrupt | too_large | too_many_pages | ...
    text: str = ""
    language: str | None = None  # ko | zh | ja | en | None (no letters)
    pages: int | None = None
    width: int | None = None
    height: int | None = None
    exif_time: datetime | None = None  # aware only when EXIF carried an offset; naive means "zone unknown"
    ocr: OcrRead | None = None  # images (and image-only PDF pages): what OCR read; None when not run


@dataclass(frozen=True)
class EvidenceItem:
    evidence_id: str
    kind: EvidenceKind
    meta: Mapping[str, Any] = field(default_factory=dict)
    media_type: str | None = None
    sha256: str | None = None
    captured_at: datetime | None = None
    extracted: ExtractedFacts = field(default_factory=ExtractedFacts)


@dataclass(frozen=True)
class TrackingRef:
    """One carrier + tracking number of this seller, with the order it backs (the reuse index)."""

    carrier: str
    tracking_number: str
    order_id: str
    dispute_id: str | None = None


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    evidence_id: str | None = None
    fields: tuple[str, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EvidenceRef:
    evidence_id: str
    kind: EvidenceKind
    sha256: str | None
    captured_at: str | None = None  # ISO 8601, or the image's `05-12 14:22` when it shows no year
    captured_from: CaptureSource | None = None


@dataclass(frozen=True)
class Report:
    status: Status
    ruleset_version: str
    findings: tuple[Finding, ...]
    evidence_set: tuple[EvidenceRef, ...]
    reason_code: ReasonCode
    checked_at: datetime
    legal_basis: tuple[str, ...] = ()  # article ids of ruleset/legal_basis.json for the reason code

    @property
    def blockers(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "blocker")
