"""CSV import, the pure parts: which encoding, which records, which rows are refused and why."""

from __future__ import annotations

import codecs

import pytest

from services.ingest.errors import CsvHeaderInvalid, CsvNotText, PayloadTooLarge
from services.ingest.importing import REQUIRED, check_row, choose_encoding, decoded_lines, header_of, records

KO = (
    "dispute_id,reason_text\nCD-1,상품이 설명과 다릅니다 (사이즈)\n"
    "CD-2,배송완료로 표시되었으나 상품을 받지 못했습니다\n"
)
ZH = "dispute_id,reason_text\nCD-1,买家称未收到商品，物流显示已签收\nCD-2,商品与描述不符，尺码错误\n"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (KO.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + ZH.encode("utf-8"), "utf-8-sig"),
        (KO.encode("cp949"), "cp949"),
        (ZH.encode("gb18030"), "gb18030"),
        (b"dispute_id\nCD-1\n", "utf-8"),
    ],
)
def test_the_encoding_of_an_export_is_recognised(raw, expected):
    assert choose_encoding(raw) == expected


def test_a_declared_charset_wins_and_an_unknown_one_is_refused():
    assert choose_encoding(KO.encode("cp949"), "EUC-KR") == "euc_kr"
    with pytest.raises(CsvNotText):
        choose_encoding(b"a,b\n", "klingon-8")


def test_a_binary_file_is_not_text():
    with pytest.raises(CsvNotText):
        choose_encoding(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")


async def _chunks(data: bytes, size: int):
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _records(data: bytes, size: int = 7, declared: str | None = None) -> list[tuple[int, list[str]]]:
    lines = decoded_lines(_chunks(data, size), declared=declared, limit=10_000_000)
    return [record async for batch in records(lines) for record in batch]


async def test_records_keep_their_first_line_number_across_quoted_newlines_and_chunk_cuts():
    text = 'a,b\r\n1,"two\nlines"\r\n\r\n3,"say ""hi"""\n4,상품'
    got = await _records(text.encode("cp949"), size=3, declared="cp949")
    assert got == [(1, ["a", "b"]), (2, ["1", "two\nlines"]), (5, ["3", 'say "hi"']), (6, ["4", "상품"])]


async def test_a_multibyte_character_cut_between_chunks_survives():
    got = await _records(("x\n" + "争议" * 50_000 + "\n").encode("gb18030"), size=4099)
    assert got[1][1][0] == "争议" * 50_000


async def test_an_upload_over_the_limit_is_refused_while_streaming():
    with pytest.raises(PayloadTooLarge):
        async for _ in decoded_lines(_chunks(b"a,b\n" * 1000, 100), declared=None, limit=1000):
            pass


def test_the_header_needs_every_column_and_knows_the_optional_ones():
    assert header_of(["\ufeffDispute_ID", *REQUIRED[1:], "buyer_id"])[0] == "dispute_id"
    with pytest.raises(CsvHeaderInvalid):
        header_of(["dispute_id", "kind"])
    with pytest.raises(CsvHeaderInvalid):
        header_of([*REQUIRED, "colour"])


def test_a_bad_row_says_which_field_without_echoing_it():
    names = list(REQUIRED)
    row = ["CD-1", "chargeback", "3000", "not-a-number", "KRW", "NOT_RECEIVED", "2026-09-09T09:06:00+09:00", "received"]
    reason = check_row(names, row)
    assert isinstance(reason, str) and reason.startswith("amount:") and "not-a-number" not in reason
    assert check_row(names, row[:3]) == "expected 8 columns, found 3"
    good = check_row(names, [*row[:3], "12900", *row[4:]])
    assert not isinstance(good, str) and good.amount == "12900"
    naive = check_row(names, [*row[:3], "12900", "KRW", "NOT_RECEIVED", "2026-09-09T09:06:00", "received"])
    assert isinstance(naive, str) and naive.startswith("notified_at")
