"""Between the database rows and the pure checker: extracted facts as JSON, rows as checker inputs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from services.evidence.checker import Amount, CaseFacts, EvidenceItem, ExtractedFacts, Finding, Report
from services.evidence.checker.model import EvidenceRef, OcrLine, OcrRead


def facts_json(facts: ExtractedFacts) -> dict[str, Any]:
    return {
        "readable": facts.readable,
        "unreadable_reason": facts.unreadable_reason,
        "text": facts.text.replace("\x00", ""),  # PostgreSQL text (and JSONB) cannot hold NUL
        "language": facts.language,
        "pages": facts.pages,
        "width": facts.width,
        "height": facts.height,
        "exif_time": facts.exif_time.isoformat() if facts.exif_time else None,  # naive: no zone in EXIF
        "ocr": ocr_json(facts.ocr) if facts.ocr is not None else None,
    }


def ocr_json(read: OcrRead) -> dict[str, Any]:
    return {
        "text": read.text.replace("\x00", ""),
        "confidence": read.confidence,
        "languages": read.languages,
        "lines": [
            {"text": line.text.replace("\x00", ""), "confidence": line.confidence, "box": list(line.box)}
            for line in read.lines
        ],
    }


def ocr_of(value: dict[str, Any] | None) -> OcrRead | None:
    if not value:
        return None
    return OcrRead(
        text=value.get("text") or "",
        confidence=float(value.get("confidence") or 0.0),
        lines=tuple(
            OcrLine(
                text=line.get("text") or "",
                confidence=float(line.get("confidence") or 0.0),
                box=_box(line.get("box")),
            )
            for line in value.get("lines") or ()
        ),
        languages=value.get("languages") or "",
    )


def _box(value: Any) -> tuple[int, int, int, int]:
    left, top, width, height = (list(value or ()) + [0, 0, 0, 0])[:4]
    return int(left), int(top), int(width), int(height)


def facts_of(value: dict[str, Any] | None) -> ExtractedFacts:
    if not value:
        return ExtractedFacts()
    exif = value.get("exif_time")
    return ExtractedFacts(
        readable=bool(value.get("readable", True)),
        unreadable_reason=value.get("unreadable_reason"),
        text=value.get("text") or "",
        language=value.get("language"),
        pages=value.get("pages"),
        width=value.get("width"),
        height=value.get("height"),
        exif_time=datetime.fromisoformat(exif) if exif else None,
        ocr=ocr_of(value.get("ocr")),
    )


def facts_summary(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a listing shows of the facts: everything but the text (the OCR's as a summary)."""
    if value is None:
        return None
    summary = {k: v for k, v in value.items() if k not in ("text", "ocr")}
    summary["text_chars"] = len(value.get("text") or "")
    ocr = value.get("ocr")
    summary["ocr"] = (
        {
            "confidence": ocr.get("confidence"),
            "lines": len(ocr.get("lines") or ()),
            "chars": len(ocr.get("text") or ""),
            "languages": ocr.get("languages"),
        }
        if ocr
        else None
    )
    return summary


def case_facts(case: Row[Any]) -> CaseFacts:
    return CaseFacts(
        dispute_id=case.dispute_id,
        seller_id=case.seller_id,
        order_id=case.order_id,
        amount=Amount(Decimal(case.amount_value), case.amount_currency),
        reason_code=case.reason_code,
        kind=case.kind,
        notified_at=case.notified_at,
    )


def evidence_item(row: Row[Any]) -> EvidenceItem:
    return EvidenceItem(
        evidence_id=str(row.id),
        kind=row.kind,
        meta=row.meta,
        media_type=row.media_type,
        sha256=row.sha256,
        captured_at=row.captured_at,
        extracted=facts_of(row.facts),
    )


def findings_json(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "rule": f.rule,
            "severity": f.severity,
            "evidence_id": f.evidence_id,
            "fields": list(f.fields),
            "params": dict(f.params),
        }
        for f in report.findings
    ]


def set_json(refs: tuple[EvidenceRef, ...] | list[EvidenceRef]) -> list[dict[str, Any]]:
    return [
        {"evidence_id": r.evidence_id, "kind": r.kind, "sha256": r.sha256}
        | ({"captured_at": r.captured_at, "captured_from": r.captured_from} if r.captured_from else {})
        for r in refs
    ]


def report_of(row: Row[Any]) -> Report:
    """The stored report as the checker's `Report` again, to render it in any language."""
    return Report(
        status=row.status,
        ruleset_version=row.ruleset_version,
        findings=tuple(
            Finding(f["rule"], f["severity"], f.get("evidence_id"), tuple(f.get("fields", ())), f.get("params", {}))
            for f in row.findings
        ),
        evidence_set=tuple(
            EvidenceRef(e["evidence_id"], e["kind"], e.get("sha256"), e.get("captured_at"), e.get("captured_from"))
            for e in row.evidence_set
        ),
        reason_code=row.reason_code,
        checked_at=row.checked_at,
        legal_basis=tuple(row.legal_basis),
    )
