"""Extraction before the checker: PDF text, image EXIF time, language, dates as sellers write them."""

from __future__ import annotations

import io
import struct
import time
import zlib
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from services.evidence.checker import detect_language, extract, parse_instant, parse_times

KST = timezone(timedelta(hours=9))


def make_pdf(lines: list[str], pages: int = 1, font: str = "Helvetica") -> bytes:
    if font != "Helvetica":
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for _ in range(pages):
        c.setFont(font, 12)
        for n, line in enumerate(lines):
            c.drawString(72, 770 - 18 * n, line)
        c.showPage()
    c.save()
    return buf.getvalue()


def encrypt(pdf: bytes, password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def jpeg(exif_time: str | None = None, offset: str | None = None, size=(64, 48)) -> bytes:
    img = Image.new("RGB", size, (200, 120, 40))
    exif = Image.Exif()
    if exif_time:
        sub = exif.get_ifd(0x8769)
        sub[36867] = exif_time
        if offset:
            sub[36881] = offset
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue()


def png_header_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge image: what a decompression bomb looks like before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


# --- PDF -----------------------------------------------------------------------------------------


def test_pdf_text_and_pages_are_read():
    facts = extract(make_pdf(["Order 3000987650001 delivered 2026-10-28 14:22 KST"], pages=3), "application/pdf")
    assert facts.readable and facts.pages == 3
    assert "3000987650001" in facts.text and facts.language == "en"


def test_korean_pdf_text_is_read_as_korean():
    facts = extract(
        make_pdf(["CJ대한통운 배송완료 2026-10-28 14:22 KST 수령인 김수"], font="HYSMyeongJo-Medium"), "application/pdf"
    )
    assert facts.readable and facts.language == "ko" and "배송완료" in facts.text


@pytest.mark.parametrize("password", ["secret", ""])
def test_encrypted_pdf_is_unreadable(password):
    facts = extract(encrypt(make_pdf(["hello"]), password), "application/pdf")
    assert (facts.readable, facts.unreadable_reason) == (False, "encrypted")


def test_truncated_pdf_is_unreadable():
    pdf = make_pdf(["hello world"] * 20, pages=2)
    facts = extract(pdf[: len(pdf) // 2], "application/pdf")
    assert (facts.readable, facts.unreadable_reason) == (False, "truncated")


@pytest.mark.parametrize("data", [b"%PDF-1.7\n garbage garbage\n%%EOF", b"not a pdf at all", b"%PDF-" + b"\x00" * 100])
def test_garbage_pdf_is_unreadable_never_an_exception(data):
    facts = extract(data, "application/pdf")
    assert not facts.readable and facts.unreadable_reason in {"corrupt", "truncated"}


def pdf_bomb(inflated_mb: int) -> bytes:
    """One page whose content stream is ~1 KB per MB compressed and `inflated_mb` MB inflated."""
    z = zlib.compressobj(9)
    chunk = b"0 0 m " * (1 << 17)  # 768 KB
    comp = b"".join(z.compress(chunk) for _ in range(inflated_mb * 4 // 3)) + z.flush()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(comp) + comp + b"\nendstream",
    ]
    out, offsets = b"%PDF-1.7\n", []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 5\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref


def test_pdf_decompression_bomb_is_bounded():
    bomb = pdf_bomb(120)  # past pypdf's 75 MB inflate limit
    assert len(bomb) < 1_000_000
    started = time.perf_counter()
    facts = extract(bomb, "application/pdf")
    assert time.perf_counter() - started < 10
    assert facts.readable is False or facts.text == ""  # cut off by the limit, or refused: never all of it


def test_pdf_with_too_many_pages_is_refused():
    facts = extract(make_pdf(["x"], pages=201), "application/pdf")
    assert (facts.readable, facts.unreadable_reason) == (False, "too_many_pages")


# --- images --------------------------------------------------------------------------------------


def test_jpeg_exif_time_with_offset_is_aware():
    facts = extract(jpeg("2026:10:25 10:05:00", "+09:00"), "image/jpeg")
    assert facts.readable and (facts.width, facts.height) == (64, 48)
    assert facts.exif_time == datetime(2026, 10, 25, 10, 5, tzinfo=KST)


def test_jpeg_exif_time_without_offset_stays_naive():
    facts = extract(jpeg("2026:10:25 10:05:00"), "image/jpeg")
    assert facts.exif_time == datetime(2026, 10, 25, 10, 5) and facts.exif_time.tzinfo is None


def test_jpeg_without_exif_has_no_time():
    facts = extract(jpeg(), "image/jpeg")
    assert facts.readable and facts.exif_time is None


def test_decompression_bomb_header_is_refused_before_decoding():
    facts = extract(png_header_bomb(100_000, 100_000), "image/png")
    assert (facts.readable, facts.unreadable_reason) == (False, "too_large")


@pytest.mark.parametrize("cut", [0.5, 0.1])
def test_truncated_or_garbage_image_is_unreadable(cut):
    data = jpeg("2026:10:25 10:05:00", "+09:00", size=(400, 300))
    facts = extract(data[: int(len(data) * cut)], "image/jpeg")
    assert (facts.readable, facts.unreadable_reason) == (False, "corrupt")


def test_zip_and_unknown_types_are_unsupported_and_empty_files_unreadable():
    assert extract(b"PK\x03\x04" + b"\x00" * 30, "application/zip").unreadable_reason == "unsupported_type"
    assert extract(b"", "image/png").unreadable_reason == "empty"


@pytest.mark.parametrize(
    ("data", "lang"),
    [
        ("배송완료입니다".encode("cp949"), "ko"),
        ("已经送达".encode("gb18030"), "zh"),
        (b"Delivered", "en"),
        ("\ufeff잘 받았습니다".encode(), "ko"),
    ],
)
def test_text_files_in_korean_and_chinese_encodings(data, lang):
    facts = extract(data, "text/plain; charset=whatever")
    assert facts.readable and facts.language == lang


# --- language ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("CJ대한통운 기록상 10월 28일 14:22 KST 배송완료입니다. 경비실을 확인해 주세요.", "ko"),
        ("我们认为包裹应该已经送达了，大概是10月28日下午。", "zh"),
        ("The parcel was delivered by CJ Logistics.", "en"),
        ("荷物は配達済みです", "ja"),
        ("2026-10-28 14:22", None),
    ],
)
def test_language_by_script_counting(text, lang):
    assert detect_language(text) == lang


# --- dates and zones -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "offset"),
    [
        ("2024-05-12 14:22 KST", (2024, 5, 12, 14, 22), 540),
        ("2024-05-12T14:22:00+09:00", (2024, 5, 12, 14, 22), 540),
        ("2024-05-12 14:22 +0800", (2024, 5, 12, 14, 22), 480),
        ("2024-05-12 05:22Z", (2024, 5, 12, 5, 22), 0),
        ("2024년 5월 12일 14시 22분", (2024, 5, 12, 14, 22), None),
        ("2024년 5월 12일 오후 2시 22분 (KST)", (2024, 5, 12, 14, 22), 540),
        ("2024. 5. 12. 오후 2:22", (2024, 5, 12, 14, 22), None),
        ("2024年5月12日 14:22", (2024, 5, 12, 14, 22), None),
        ("北京时间 2024年5月12日 下午2点22分", (2024, 5, 12, 14, 22), 480),
        ("2024年5月12日14时22分 韩国时间", (2024, 5, 12, 14, 22), 540),
        ("May 12, 2024 2:22 PM (UTC+9)", (2024, 5, 12, 14, 22), 540),
        ("10월 28일 14:22 KST", (None, 10, 28, 14, 22), 540),
        ("at 14:22 CST", (None, None, None, 14, 22), None),  # China or US Central: ambiguous, not guessed
    ],
)
def test_parse_times_as_sellers_write_them(text, expected, offset):
    [t] = parse_times(text)
    assert (t.year, t.month, t.day, t.hour, t.minute) == expected
    assert t.offset_minutes == offset and t.has_zone is (offset is not None)


def test_dates_without_time_and_numbers_that_are_not_dates():
    assert [(t.month, t.day, t.has_time) for t in parse_times("大概是10月28日下午")] == [(10, 28, False)]
    assert parse_times("주문번호 3000987650001, 운송장 651234567890, 2024-13-45") == []


def test_parse_instant_keeps_zones_and_never_invents_one():
    assert parse_instant("2026-10-28T14:22:00+09:00") == datetime(2026, 10, 28, 14, 22, tzinfo=KST)
    assert parse_instant("2026-10-28 14:22 KST") == datetime(2026, 10, 28, 14, 22, tzinfo=KST)
    assert parse_instant("2026년 10월 28일 14시 22분").tzinfo is None
    assert parse_instant("soon") is None and parse_instant(12) is None
