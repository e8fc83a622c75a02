"""Evidence packages for the checker's tests: one clean package per reason code, and bad items."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.evidence.checker import Amount, CaseFacts, EvidenceItem, ExtractedFacts

NOW = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)
ORDER = "3000987650001"
REASONS = (
    "NOT_RECEIVED",
    "NOT_AS_DESCRIBED",
    "DAMAGED",
    "DUPLICATE_CHARGE",
    "CREDIT_NOT_PROCESSED",
    "UNAUTHORIZED",
    "OTHER",
)


def samples_dir() -> Path:
    """The shared samples beside the checkout, else the copy under tests/fixtures (CI)."""
    beside = Path(__file__).resolve().parents[3].parent / "shared" / "samples"
    return beside if beside.is_dir() else Path(__file__).resolve().parents[2] / "fixtures" / "samples"


def sample(name: str, evidence_id: str | None = None) -> EvidenceItem:
    meta = json.loads((samples_dir() / f"evidence_{name}.json").read_text(encoding="utf-8"))
    return EvidenceItem(evidence_id or name, meta.pop("kind"), meta)


def case(reason: str = "NOT_RECEIVED", **over: Any) -> CaseFacts:
    base = dict(
        dispute_id="CD-2026-004411",
        seller_id="V1",
        order_id=ORDER,
        amount=Amount(Decimal("32900"), "KRW"),
        reason_code=reason,
        kind="platform_dispute",
        notified_at=datetime(2026, 11, 2, 0, 40, tzinfo=UTC),
    )
    return CaseFacts(**{**base, **over})


def item(evidence_id: str, kind: str, meta: dict[str, Any] | None = None, **over: Any) -> EvidenceItem:
    return EvidenceItem(evidence_id, kind, meta or {}, **over)


def tracking(evidence_id: str = "trk", **meta: Any) -> EvidenceItem:
    base = {
        "carrier": "CJ",
        "tracking_number": "651234567890",
        "order_id": ORDER,
        "status": "delivered",
        "delivered_at": "2026-10-28T14:22:00+09:00",
    }
    return item(evidence_id, "tracking_record", {**base, **meta})


def pod(evidence_id: str = "pod", **meta: Any) -> EvidenceItem:
    base = {
        "carrier": "CJ",
        "tracking_number": "651234567890",
        "order_id": ORDER,
        "status": "delivered",
        "delivered_at": "2026-10-28T14:22:00+09:00",
        "recipient_name": "김*수",
        "address": "서울특별시 강남구 역삼로 210, 7층 702호",
    }
    return item(evidence_id, "proof_of_delivery", {**base, **meta})


def messages(
    evidence_id: str = "msg",
    *texts: tuple[str, str],
    source: str = "coupang_messages",
    sent_at: str | None = "2026-10-29T09:12:00+09:00",
) -> EvidenceItem:
    rows = texts or (
        ("buyer", "상품을 아직 못 받았어요"),
        ("seller", "경비실을 확인해 주세요."),
        ("buyer", "경비실에 있었네요. 잘 받았습니다."),
    )
    msgs = [{"sender": s, "text": t, **({"sent_at": sent_at} if sent_at else {})} for s, t in rows]
    return item(evidence_id, "message_log", {"source": source, "order_id": ORDER, "messages": msgs})


def photo(evidence_id: str = "photo", **over: Any) -> EvidenceItem:
    base: dict[str, Any] = dict(
        media_type="image/jpeg",
        sha256="a" * 64,
        extracted=ExtractedFacts(width=800, height=600, exif_time=datetime.fromisoformat("2026-10-25T10:05:00+09:00")),
    )
    return item(evidence_id, "product_photo", {}, **{**base, **over})


def listing(evidence_id: str = "listing") -> EvidenceItem:
    text = "상품명: 여성 니트 가디건 / 사이즈 M / 색상 베이지 / 소재 면 100%"
    return item(
        evidence_id,
        "product_listing",
        {},
        media_type="application/pdf",
        extracted=ExtractedFacts(text=text, language="ko", pages=1),
    )


def invoice(evidence_id: str = "inv", **meta: Any) -> EvidenceItem:
    return item(evidence_id, "invoice", {"order_id": ORDER, "amount": {"value": "32900", "currency": "KRW"}, **meta})


def refund(evidence_id: str = "refund") -> EvidenceItem:
    return item(evidence_id, "refund_record", {"order_id": ORDER})


def statement(
    evidence_id: str = "st",
    text: str = "주문번호 3000987650001의 상품은 2026-10-28 14:22 KST, CJ대한통운 "
    "운송장 651234567890로 배송완료되었습니다.",
) -> EvidenceItem:
    return item(evidence_id, "statement", {"text": text})


def translation(of: str, text: str, evidence_id: str = "tr", certified: Any = True, language: str = "ko"):  # noqa: ANN201
    return item(
        evidence_id, "translation", {"of_evidence_id": of, "language": language, "certified": certified, "text": text}
    )


_REFUND_THANKS = (("buyer", "환불 잘 받았습니다. 감사합니다."),)


def clean(reason: str) -> list[EvidenceItem]:
    """A package with no finding at all for this reason code."""
    return {
        "NOT_RECEIVED": lambda: [tracking(), pod(), messages()],
        "NOT_AS_DESCRIBED": lambda: [
            photo(),
            listing(),
            messages("msg", ("buyer", "사이즈가 달라요"), ("seller", "상세 페이지의 M 사이즈 그대로입니다.")),
        ],
        "DAMAGED": lambda: [
            photo(),
            listing(),
            messages("msg", ("buyer", "박스가 찌그러졌어요"), ("seller", "출고 사진을 첨부했습니다.")),
        ],
        "DUPLICATE_CHARGE": lambda: [invoice(), refund(), messages("msg", *_REFUND_THANKS)],
        "CREDIT_NOT_PROCESSED": lambda: [invoice(), refund(), messages("msg", *_REFUND_THANKS)],
        "UNAUTHORIZED": lambda: [invoice(), pod()],
        "OTHER": lambda: [statement()],
    }[reason]()
