"""The letters render Korean and Chinese in an embedded TrueType subset: pdffonts, pypdf and pdftoppm say so.

Needs Debian's fonts-wqy-microhei and poppler-utils, which `make install` installs (or names).
"""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fontTools.ttLib import TTCollection
from pypdf import PdfReader

from services.submit import letters
from services.submit.settings import DEFAULT_LETTER_FONT, Settings

FONT = letters.LetterFont(Settings().letter_font_path, Settings().letter_font_index)
AT = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)  # 2026-03-02 00:30 KST: the date changes

LETTER = letters.CoverLetter(
    dispute_id="CP-2026-0001",
    order_id="O-77",
    seller_name="深圳示例贸易",
    amount="39,000 KRW",
    reason_code="NOT_RECEIVED",
    timeline=[
        letters.TimelineEntry(AT, "분쟁 접수", "收到争议"),
        letters.TimelineEntry(datetime(2026, 2, 20, 2, 0, tzinfo=UTC), "배송 완료", "已签收"),
    ],
    evidence=[letters.EvidenceLine("CP-2026-0001_02_proof_of_delivery.jpg", "proof_of_delivery", "ab" * 32)],
    legal_basis=[letters.LegalBasis("전자상거래법", "제17조", "청약철회등", "재화를 공급받은 날부터 7일", "撤回要约")],
)
MESSAGES = [
    letters.Message(AT, "구매자", "물건을 아직 못 받았어요"),
    letters.Message(datetime(2026, 3, 1, 16, 0, tzinfo=UTC), "卖家", "您好，包裹已于2月20日签收"),
]


def poppler(tool: str) -> str:
    found = shutil.which(tool)
    assert found, f"{tool} is missing: apt-get install poppler-utils (make install does it as root)"
    return found


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_default_font_is_glyf_truetype_with_hangul_and_simplified_chinese():
    assert DEFAULT_LETTER_FONT.is_file(), f"{DEFAULT_LETTER_FONT} missing: {letters.INSTALL_HINT}"
    face = TTCollection(str(DEFAULT_LETTER_FONT)).fonts[0]
    cmap = face.getBestCmap()
    assert "glyf" in face and "CFF " not in face
    assert all(cp in cmap for cp in (0xAC00, 0xD7A3, 0xD55C, 0x4E2D, 0x8BC1, 0x5C3A))


@pytest.mark.parametrize("render", ["cover", "log"])
def test_every_font_in_the_pdfs_is_embedded(tmp_path, render):
    pdf = letters.cover_letter(LETTER, FONT) if render == "cover" else letters.message_log("D-1", MESSAGES, FONT)
    (tmp_path / "x.pdf").write_bytes(pdf)
    listing = subprocess.run([poppler("pdffonts"), tmp_path / "x.pdf"], capture_output=True, text=True, check=True)
    rows = listing.stdout.splitlines()[2:]
    assert rows, listing.stdout
    for row in rows:
        emb, sub = row.split()[-5:-3]
        assert (emb, sub) == ("yes", "yes"), row  # embedded, as a subset
        assert "TrueType" in row


def test_the_cover_letter_text_comes_back_in_korean_and_chinese_with_kst_times():
    text = text_of(letters.cover_letter(LETTER, FONT))
    for expected in ("분쟁 답변서", "争议答复函", "사건 개요", "案件概要", "상품 미수령", "未收到商品", "深圳示例贸易"):
        assert expected in text
    assert "2026-03-02 00:30 KST" in text and "2026-02-20 11:00 KST" in text
    assert "배송 완료 증명" in text and "签收证明" in text and "전자상거래법 제17조" in text
    assert text.index("2026-02-20 11:00 KST") < text.index("2026-03-02 00:30 KST")  # oldest first


def test_the_message_log_shows_each_time_in_utc_and_kst():
    text = text_of(letters.message_log("D-1", MESSAGES, FONT))
    assert "2026-03-01 15:30 UTC" in text and "2026-03-02 00:30 KST" in text
    assert "물건을 아직 못 받았어요" in text and "包裹已于2月20日签收" in text


def test_the_same_letter_renders_to_the_same_bytes():
    assert letters.cover_letter(LETTER, FONT) == letters.cover_letter(LETTER, FONT)


def test_pdftoppm_renders_the_cover_letter_to_a_png(tmp_path):
    (tmp_path / "letter.pdf").write_bytes(letters.cover_letter(LETTER, FONT))
    subprocess.run(
        [poppler("pdftoppm"), "-r", "60", "-png", "-f", "1", "-l", "1", tmp_path / "letter.pdf", tmp_path / "page"],
        check=True,
    )
    png = (tmp_path / "page-1.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_a_missing_font_fails_with_the_install_command(tmp_path):
    with pytest.raises(letters.FontMissing, match="apt-get install fonts-wqy-microhei"):
        letters.cover_letter(LETTER, letters.LetterFont(Path(tmp_path / "none.ttf")))


def test_letters_rendered_at_once_in_threads_are_the_letters_rendered_one_by_one():
    # submit renders each package's PDFs in a worker thread (anyio.to_thread), so several submissions render
    # at once with one registered TTFont; `make chaos` saw reportlab's subsetting fail there (IndexError,
    # KeyError in TTFontFile.makeSubset) and the submit answer 500.
    from concurrent.futures import ThreadPoolExecutor

    def letter(n: int) -> bytes:
        texts = [letters.Message(AT, "구매자", f"주문 {n} 상품을 아직 못 받았어요 {'가나다라마바사'[n % 7 :]}")]
        texts.append(
            letters.Message(AT, "卖家", f"订单{n}：包裹已于2月{n % 28 + 1}日签收，{'请查收快递单号'[n % 6 :]}")
        )
        return letters.message_log(f"D-{n}", texts, FONT) if n % 2 else letters.cover_letter(LETTER, FONT)

    alone = [letter(n) for n in range(24)]
    with ThreadPoolExecutor(8) as pool:
        for _ in range(3):
            assert list(pool.map(letter, range(24))) == alone
