"""OCR at upload, with the real Tesseract, on screenshots the tests draw (tests/screens.py).

The recognition goal of issue 22: every time, order id and status word drawn on a screen is in
the text OCR reads from it.
"""

from __future__ import annotations

import io
import stat
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from PIL import Image
from pytesseract import pytesseract
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from services.evidence.checker import CaseFacts, EvidenceItem, ExtractedFacts, check, render
from services.evidence.checker.extract import extract
from services.evidence.checker.model import Amount, OcrRead
from services.evidence.checker.ocr import OcrOptions, prepare
from services.evidence.facts import facts_json, facts_of, facts_summary
from shared.contracts import DisputeKind, ReasonCode
from tests import screens

ORDER = "2024051212345"
OPTIONS = OcrOptions()

SCREENS = screens.drawn(ORDER)  # name -> (PNG, the words OCR must read)


@cache
def read(name: str) -> ExtractedFacts:
    """One OCR run per drawn screen for the whole module (each takes about a second)."""
    return extract(SCREENS[name][0], "image/png", ocr=OPTIONS)


def one_spaced(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("name", list(SCREENS))
def test_every_time_order_id_and_status_word_drawn_on_a_screen_is_read(name: str):
    facts = read(name)
    assert facts.readable and facts.ocr is not None
    missing = screens.missing(SCREENS[name][1], facts.ocr.text)
    assert missing == [], f"{name}: not read {missing} in {facts.ocr.text!r}"
    assert facts.ocr.confidence >= 80
    assert facts.ocr.languages == "kor+chi_sim+eng"
    assert (facts.width, facts.height) == (1080, 1920)


def test_the_lines_have_their_text_confidence_and_box_where_they_were_drawn():
    ocr = read("coupang_chat").ocr
    assert ocr is not None and len(ocr.lines) >= 10
    assert ocr.text == "\n".join(line.text for line in ocr.lines)
    order_line = next(line for line in ocr.lines if ORDER in line.text)
    left, top, width, height = order_line.box
    # drawn at (40, 295) in a 40 px font: "주문번호 2024051212345", about 450 px wide
    assert 30 <= left <= 60 and 285 <= top <= 320 and 380 <= width <= 520 and 25 <= height <= 80
    assert order_line.confidence >= 80
    for line in ocr.lines:
        x, y, w, h = line.box
        assert 0 <= x and 0 <= y and x + w <= 1080 and y + h <= 1920 and 0 <= line.confidence <= 100
    assert [line.box[1] for line in ocr.lines] == sorted(line.box[1] for line in ocr.lines)  # reading order


def test_korean_words_keep_their_spacing_and_chinese_has_none():
    coupang, wechat = one_spaced(read("coupang_chat").ocr.text), read("wechat_chat").ocr.text  # type: ignore[union-attr]
    assert "쿠팡 Coupang" in coupang and "주문" in coupang and "확인 부탁드립니다" in coupang
    assert "快递显示已签收" in wechat


def _resized(png: bytes, factor: float, fmt: str = "PNG") -> bytes:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.LANCZOS).save(out, fmt)
    return out.getvalue()


def _order_box(facts: ExtractedFacts) -> tuple[int, int, int, int]:
    assert facts.ocr is not None
    return next(line.box for line in facts.ocr.lines if ORDER in line.text.replace(" ", ""))


@pytest.mark.parametrize(
    ("factor", "fmt"),
    [(2.0, "PNG"), (0.5, "PNG"), (3.0, "JPEG")],  # a large JPEG is decoded smaller at once (its draft)
)
def test_large_images_are_shrunk_and_small_ones_enlarged_with_boxes_in_the_original_pixels(factor: float, fmt: str):
    page = screens.tracking_page("배송중", order_id=ORDER)
    facts = extract(_resized(page, factor, fmt), f"image/{fmt.lower()}", ocr=OPTIONS)
    assert (facts.width, facts.height) == (round(1080 * factor), round(1920 * factor))
    assert facts.ocr is not None and ORDER in facts.ocr.text and "배송중" in facts.ocr.text
    base = _order_box(read("tracking_in_transit"))
    scaled = _order_box(facts)
    for got, want in zip(scaled, base, strict=True):
        assert abs(got - want * factor) <= max(12, want * factor * 0.1), (scaled, base)


def test_preparing_bounds_the_long_side_and_enlarges_at_most_three_times():
    def scale_of(size: tuple[int, int]) -> tuple[tuple[int, int], float]:
        prepared, scale = prepare(Image.new("RGB", size, "white"), OcrOptions(max_side_px=2400, min_side_px=1200))
        assert prepared.mode == "L"
        return prepared.size, scale

    assert scale_of((1080, 1920)) == ((1080, 1920), 1.0)
    assert scale_of((2160, 4800)) == ((1080, 2400), 0.5)
    assert scale_of((480, 960)) == ((1200, 2400), 2.5)
    assert scale_of((100, 50)) == ((300, 150), 3.0)
    draft = Image.new("RGB", (1620, 2880), "white")  # a 6480×11520 JPEG decoded at a quarter
    prepared, scale = prepare(draft, OcrOptions(max_side_px=2400), size=(6480, 11520))
    assert prepared.size == (1350, 2400) and scale == 2400 / 11520
    transparent = Image.new("RGBA", (1200, 1200), (0, 0, 0, 0))
    assert prepare(transparent, OPTIONS)[0].getextrema() == (255, 255)  # transparent reads as white, not black


def test_jpeg_and_webp_screenshots_are_read_too():
    image = Image.open(io.BytesIO(screens.tracking_page("배송완료", order_id=ORDER))).convert("RGB")
    for fmt, media_type in (("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        out = io.BytesIO()
        image.save(out, fmt, quality=90)
        facts = extract(out.getvalue(), media_type, ocr=OPTIONS)
        assert facts.ocr is not None and ORDER in facts.ocr.text and "배송완료" in facts.ocr.text, fmt


def test_a_blurred_photo_of_a_screen_is_read_with_low_confidence():
    clean = read("coupang_chat").ocr
    blurred = extract(screens.blurred(screens.coupang_chat(ORDER), 4), "image/png", ocr=OPTIONS)
    assert blurred.readable and blurred.ocr is not None and clean is not None
    assert blurred.ocr.confidence < 60 <= clean.confidence - 20


def test_an_image_without_text_is_readable_with_an_empty_read():
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (250, 250, 250)).save(out, "PNG")
    facts = extract(out.getvalue(), "image/png", ocr=OPTIONS)
    assert facts.readable and facts.ocr == OcrRead(text="", confidence=0.0, lines=(), languages="kor+chi_sim+eng")


def test_without_ocr_options_images_are_not_read_and_files_that_are_no_images_never_are():
    assert extract(screens.coupang_chat(ORDER), "image/png").ocr is None
    text = extract("주문번호 2024051212345".encode(), "text/plain", ocr=OPTIONS)
    assert text.readable and text.ocr is None and ORDER in text.text
    assert extract(b"not an image at all", "image/png", ocr=OPTIONS).unreadable_reason == "corrupt"


def _pdf_of(png: bytes | None, text: str | None = None, pages: int = 1) -> bytes:
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=(540, 960))
    for _ in range(pages):
        if png is not None:
            c.drawImage(ImageReader(io.BytesIO(png)), 0, 0, width=540, height=960)
        if text is not None:
            c.drawString(40, 900, text)
        c.showPage()
    c.save()
    return out.getvalue()


def test_an_image_only_pdf_page_is_read_by_ocr_and_a_pdf_with_text_is_not():
    scanned = extract(_pdf_of(screens.tracking_page("배송중", order_id=ORDER)), "application/pdf", ocr=OPTIONS)
    assert scanned.readable and scanned.pages == 1 and scanned.text.strip() == ""
    assert scanned.ocr is not None and ORDER in scanned.ocr.text and "배송중" in scanned.ocr.text
    typed = extract(_pdf_of(None, f"Order {ORDER} delivered"), "application/pdf", ocr=OPTIONS)
    assert typed.readable and ORDER in typed.text and typed.ocr is None


def test_only_the_first_image_only_pages_of_a_pdf_are_read():
    pdf = _pdf_of(screens.tracking_page("배송중", order_id=ORDER), pages=3)
    facts = extract(pdf, "application/pdf", ocr=OcrOptions(max_pdf_pages=1))
    assert facts.pages == 3 and facts.ocr is not None
    assert facts.ocr.text.count(ORDER) == 1


def test_ocr_past_its_time_limit_is_killed_and_the_file_is_unreadable_for_it():
    started = datetime.now(UTC)
    facts = extract(screens.coupang_chat(ORDER), "image/png", ocr=OcrOptions(timeout_s=0.05))
    assert not facts.readable and facts.unreadable_reason == "ocr_timeout" and facts.ocr is None
    assert (datetime.now(UTC) - started).total_seconds() < 1.0  # it did not wait for Tesseract to finish


def test_tesseract_missing_or_crashing_makes_the_file_unreadable_with_ocr_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setattr(pytesseract, "tesseract_cmd", str(tmp_path / "no-tesseract-here"))
    assert extract(screens.kakao_chat(), "image/png", ocr=OPTIONS).unreadable_reason == "ocr_failed"
    crashing = tmp_path / "tesseract"
    crashing.write_text("#!/bin/sh\necho 'Segmentation fault' >&2\nexit 139\n")
    crashing.chmod(crashing.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(pytesseract, "tesseract_cmd", str(crashing))
    assert extract(screens.kakao_chat(), "image/png", ocr=OPTIONS).unreadable_reason == "ocr_failed"
    unknown_language = OcrOptions(languages="klingon")
    monkeypatch.undo()
    assert extract(screens.kakao_chat(), "image/png", ocr=unknown_language).unreadable_reason == "ocr_failed"


@pytest.mark.parametrize(
    ("reason", "lang", "words"),
    [
        ("ocr_timeout", "zh", "图片文字识别超时"),
        ("ocr_failed", "ko", "이미지 글자 인식 실패"),
        ("ocr_timeout", "en", "reading the text in the image took too long"),
    ],
)
def test_an_ocr_failure_is_reported_as_file_unreadable_with_its_reason_in_the_readers_language(
    reason: str, lang: str, words: str
):
    case = CaseFacts(
        "D1", "S1", ORDER, Amount(Decimal("10000"), "KRW"), ReasonCode.NOT_AS_DESCRIBED, DisputeKind.chargeback
    )
    item = EvidenceItem(
        "E1",
        "message_log",
        {"kind": "message_log", "source": "coupang_messages"},
        media_type="image/png",
        extracted=ExtractedFacts(readable=False, unreadable_reason=reason),
    )
    report = check(case, [item], [], now=datetime(2026, 11, 3, tzinfo=UTC))
    unreadable = [f for f in render(report, lang) if f["rule"] == "file_unreadable"]
    assert len(unreadable) == 1 and words in unreadable[0]["message"] and unreadable[0]["severity"] == "blocker"


def test_the_read_is_stored_with_its_lines_and_the_listing_shows_only_a_summary():
    facts = read("kakao_chat")
    stored = facts_json(facts)
    assert facts_of(stored) == facts  # text, confidence, lines with boxes, languages: all back
    assert stored["ocr"]["lines"][0]["box"] == list(facts.ocr.lines[0].box)  # type: ignore[union-attr]
    summary = facts_summary(stored)
    assert summary is not None and summary["ocr"] == {
        "confidence": facts.ocr.confidence,  # type: ignore[union-attr]
        "lines": len(facts.ocr.lines),  # type: ignore[union-attr]
        "chars": len(facts.ocr.text),  # type: ignore[union-attr]
        "languages": "kor+chi_sim+eng",
    }
    assert ORDER not in str(summary) and "카카오톡" not in str(summary)
    assert facts_of({k: v for k, v in stored.items() if k != "ocr"}).ocr is None  # rows from before OCR
    assert facts_summary({"readable": True, "text": "x"}) == {"readable": True, "text_chars": 1, "ocr": None}
