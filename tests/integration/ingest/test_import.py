"""CSV import over HTTP: per-row results, good rows kept, bad rows with line and reason, in every encoding."""

from __future__ import annotations

import codecs
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.ingest import models
from tests.integration.ingest.conftest import Ingest

SAMPLE = Path(__file__).parent / "samples" / "disputes_last_3_months.csv"
HEADER = "dispute_id,kind,order_id,amount,currency,reason_code,notified_at,status,reason_text\n"


async def upload(ingest: Ingest, caller: str, raw: bytes, *, content_type: str = "text/csv", **params):
    return await ingest.client.post(
        "/v1/disputes/import",
        content=raw,
        params=params,
        headers={**ingest.seller(caller), "content-type": content_type},
    )


async def test_the_sample_export_keeps_good_rows_and_names_the_bad_line(ingest: Ingest):
    seller_id, _ = await ingest.onboard()
    answer = await upload(ingest, seller_id, SAMPLE.read_bytes())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["rows"], body["created"], body["errors"]) == (4, 3, 1)
    bad = [r for r in body["results"] if r["result"] == "error"]
    assert bad == [
        {
            "line": 5,
            "dispute_id": "CD-2026-003378",
            "result": "error",
            "code": "invalid_row",
            "detail": 'amount: the amount is a positive decimal string, e.g. "45000"',
        }
    ]
    # Decided and submitted rows are history; nothing in the sample is still open, so no events.
    outbox = (
        select(func.count()).select_from(models.outbox_table).where(models.outbox_table.c.key.like("CD-2026-0031%"))
    )
    assert await ingest.scalar(outbox) == 0
    won = await ingest.client.get("/v1/cases/CD-2026-003101", headers=ingest.seller(seller_id))
    assert won.json()["status"] == "won" and won.json()["source"] == "import"


def _mixed(prefix: str, text: str) -> str:
    return (
        HEADER
        + f"{prefix}-1,chargeback,3001,45000,KRW,NOT_RECEIVED,2026-09-01T10:00:00+09:00,received,{text}\n"
        + f"{prefix}-2,chargeback,3002,45000,KRW,NOT_RECEIVED,2026-09-01T10:00:00,received,{text}\n"
        + f'{prefix}-3,platform_dispute,3003,12.5,CNY,DAMAGED,2026-09-02T10:00:00+09:00,lost,"{text}, 2"\n'
        + f"{prefix}-4,chargeback,3004,100,KRW,NOT_RECEIVED,2026-09-03T10:00:00+09:00,closed,{text}\n"
        + f"{prefix}-1,chargeback,3001,45000,KRW,NOT_RECEIVED,2026-09-01T10:00:00+09:00,received,{text}\n"
    )


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("utf-8", "상품 미수령 / 未收到商品"),
        ("utf-8-sig", "未收到商品"),
        ("gb18030", "买家称未收到商品，物流显示已签收"),
        ("cp949", "배송완료로 표시되었으나 상품을 받지 못했습니다"),
    ],
)
async def test_mixed_good_and_bad_rows_in_each_encoding(ingest: Ingest, encoding: str, text: str):
    seller_id, _ = await ingest.onboard()
    prefix = f"CD-{uuid.uuid4().hex[:8]}"
    answer = await upload(ingest, seller_id, _mixed(prefix, text).encode(encoding))
    assert answer.status_code == 200, answer.text
    results = [(r["line"], r["result"], r["code"]) for r in answer.json()["results"]]
    assert results == [
        (2, "created", None),
        (3, "error", "invalid_row"),  # a time without an offset
        (4, "created", None),
        (5, "error", "invalid_row"),  # not a case status
        (6, "duplicate", None),
    ]
    case = (await ingest.client.get(f"/v1/cases/{prefix}-1", headers=ingest.seller(seller_id))).json()
    assert case["reason_text"] == text and case["status"] == "received"
    assert await ingest.outbox_count(f"{prefix}-1", "dispute.received") == 1  # open: the pipeline takes it up
    assert await ingest.outbox_count(f"{prefix}-3") == 0  # decided: history only
    lost = (await ingest.client.get(f"/v1/cases/{prefix}-3", headers=ingest.seller(seller_id))).json()
    assert lost["amount"] == {"value": "12.5", "currency": "CNY"} and lost["reason_text"] == f"{text}, 2"


async def test_a_wrong_header_or_a_binary_file_is_refused_and_nothing_is_stored(ingest: Ingest):
    seller_id, _ = await ingest.onboard()
    wrong = await upload(ingest, seller_id, b"id,amount\nCD-1,100\n")
    assert (wrong.status_code, wrong.json()["code"]) == (422, "csv_header_invalid")
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    binary = await upload(ingest, seller_id, png)  # declared CSV, sniffed binary
    assert (binary.status_code, binary.json()["code"]) == (415, "csv_not_text")
    empty = await upload(ingest, seller_id, b"")
    assert (empty.status_code, empty.json()["code"]) == (422, "csv_header_invalid")
    cases = select(func.count()).select_from(models.cases).where(models.cases.c.seller_id == seller_id)
    assert await ingest.scalar(cases) == 0


async def test_a_seller_imports_only_for_itself_and_an_operator_names_the_seller(ingest: Ingest):
    seller_id, _ = await ingest.onboard()
    other, _ = await ingest.onboard()
    raw = _mixed(f"CD-{uuid.uuid4().hex[:8]}", "x").encode()
    assert (await upload(ingest, seller_id, raw, seller_id=other)).status_code == 404
    unnamed = await ingest.client.post("/v1/disputes/import", content=raw, headers=ingest.operator())
    assert (unnamed.status_code, unnamed.json()["code"]) == (422, "seller_id_required")
    named = await ingest.client.post(
        "/v1/disputes/import", content=raw, params={"seller_id": other}, headers=ingest.operator()
    )
    assert named.status_code == 200 and named.json()["seller_id"] == other and named.json()["created"] == 2


async def test_ten_thousand_rows_import_in_one_upload(ingest: Ingest):
    seller_id, _ = await ingest.onboard()
    prefix = f"CD-{uuid.uuid4().hex[:6]}"
    rows = "".join(
        f"{prefix}-{n:05d},chargeback,30{n:08d},{1000 + n},KRW,NOT_RECEIVED,2026-09-01T10:00:00+09:00,won,\n"
        for n in range(10_000)
    )
    raw = codecs.BOM_UTF8 + (HEADER + rows).encode()
    started = time.monotonic()
    answer = await upload(ingest, seller_id, raw)
    elapsed = time.monotonic() - started
    assert answer.status_code == 200 and answer.json()["created"] == 10_000, answer.text[:300]
    assert elapsed < 20, elapsed


# --------------------------------------------------------------------------- the multipart form


async def upload_files(ingest: Ingest, caller: str, files, *, data=None, **params):
    """What httpx sends for `files=` (and a browser form, and `curl -F`): multipart/form-data."""
    return await ingest.client.post(
        "/v1/disputes/import", files=files, data=data, params=params, headers=ingest.seller(caller)
    )


async def seller_cases(ingest: Ingest, seller_id: str) -> int:
    query = select(func.count()).select_from(models.cases).where(models.cases.c.seller_id == seller_id)
    return await ingest.scalar(query)


async def test_the_sample_as_a_file_upload_answers_as_the_raw_body_does(ingest: Ingest):
    def sample(prefix: str) -> bytes:  # the sample's rows under fresh dispute ids (ids are global)
        return SAMPLE.read_bytes().replace(b"CD-2026-", prefix.encode())

    raw_seller, _ = await ingest.onboard()
    raw = await upload(ingest, raw_seller, sample("CD-R-"))
    seller_id, _ = await ingest.onboard()
    answer = await upload_files(ingest, seller_id, {"file": ("disputes.csv", sample("CD-F-"), "text/csv")})
    assert answer.status_code == 200, answer.text

    def shape(body: dict) -> dict:
        results = [{**r, "dispute_id": r["dispute_id"][5:]} for r in body["results"]]
        return {**body, "seller_id": None, "results": results}

    assert shape(answer.json()) == shape(raw.json())
    assert (answer.json()["created"], answer.json()["errors"]) == (3, 1)
    assert await seller_cases(ingest, seller_id) == 3


@pytest.mark.parametrize(
    ("encoding", "text"),
    [
        ("utf-8", "상품 미수령 / 未收到商品"),
        ("utf-8-sig", "未收到商品"),
        ("gb18030", "买家称未收到商品，物流显示已签收"),
        ("cp949", "배송완료로 표시되었으나 상품을 받지 못했습니다"),
    ],
)
async def test_a_file_upload_in_each_encoding_answers_per_row(ingest: Ingest, encoding: str, text: str):
    seller_id, _ = await ingest.onboard()
    prefix = f"CD-{uuid.uuid4().hex[:8]}"
    # No charset given anywhere, and a part type a browser picks for .csv: the encoding is detected.
    files = {"file": ("export.csv", _mixed(prefix, text).encode(encoding), "application/vnd.ms-excel")}
    answer = await upload_files(ingest, seller_id, files)
    assert answer.status_code == 200, answer.text
    results = [(r["line"], r["result"], r["code"]) for r in answer.json()["results"]]
    assert results == [
        (2, "created", None),
        (3, "error", "invalid_row"),
        (4, "created", None),
        (5, "error", "invalid_row"),
        (6, "duplicate", None),
    ]
    case = (await ingest.client.get(f"/v1/cases/{prefix}-1", headers=ingest.seller(seller_id))).json()
    assert case["reason_text"] == text
    assert await ingest.outbox_count(f"{prefix}-1", "dispute.received") == 1


async def test_a_declared_charset_of_the_part_or_the_query_is_honoured(ingest: Ingest):
    # Declared, the bytes are read as declared, not guessed (and a wrong declaration is refused).
    text = "상품"
    seller_id, _ = await ingest.onboard()
    prefix = f"CD-{uuid.uuid4().hex[:8]}"
    raw = _mixed(prefix, text).encode("cp949")
    part = await upload_files(ingest, seller_id, {"file": ("a.csv", raw, "text/csv; charset=cp949")})
    assert part.status_code == 200 and part.json()["created"] == 2, part.text
    case = (await ingest.client.get(f"/v1/cases/{prefix}-1", headers=ingest.seller(seller_id))).json()
    assert case["reason_text"] == text
    # ?charset= wins over the part's own (wrong) charset.
    other = f"CD-{uuid.uuid4().hex[:8]}"
    raw = _mixed(other, text).encode("cp949")
    query = await upload_files(ingest, seller_id, {"file": ("a.csv", raw, "text/csv; charset=utf-8")}, charset="cp949")
    assert query.status_code == 200 and query.json()["created"] == 2, query.text
    wrong = await upload_files(ingest, seller_id, {"file": ("a.csv", raw, "text/csv; charset=utf-8")})
    assert (wrong.status_code, wrong.json()["code"]) == (415, "csv_not_text")


async def test_a_file_upload_streamed_in_small_chunks_is_read_whole(ingest: Ingest):
    seller_id, _ = await ingest.onboard()
    prefix = f"CD-{uuid.uuid4().hex[:6]}"
    rows = "".join(
        f"{prefix}-{n:04d},chargeback,30{n:08d},{1000 + n},KRW,NOT_RECEIVED,2026-09-01T10:00:00+09:00,won,\n"
        for n in range(2_000)
    )
    body, content_type = _multipart([("file", "big.csv", "text/csv", (HEADER + rows).encode())])

    async def chunks():
        for start in range(0, len(body), 997):  # boundaries cut across chunks, no Content-Length
            yield body[start : start + 997]

    answer = await ingest.client.post(
        "/v1/disputes/import",
        content=chunks(),
        headers={**ingest.seller(seller_id), "content-type": content_type},
    )
    assert answer.status_code == 200 and answer.json()["created"] == 2_000, answer.text[:300]


def _multipart(parts: list[tuple[str, str | None, str | None, bytes]], *, close: bool = True) -> tuple[bytes, str]:
    """A multipart/form-data body by hand, for the shapes httpx will not send."""
    boundary = "dd-test-boundary-7f3a"
    body = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if content_type:
            body += f"Content-Type: {content_type}\r\n".encode()
        body += b"\r\n" + data + b"\r\n"
    if close:
        body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _csv(prefix: str) -> bytes:
    return _mixed(prefix, "x").encode()


async def test_two_files_no_file_or_another_part_are_refused_by_name_and_nothing_is_stored(ingest: Ingest):
    seller_id, _ = await ingest.onboard()
    one, two = _csv(f"CD-{uuid.uuid4().hex[:8]}"), _csv(f"CD-{uuid.uuid4().hex[:8]}")
    twice = await upload_files(
        ingest, seller_id, [("file", ("a.csv", one, "text/csv")), ("file", ("b.csv", two, "text/csv"))]
    )
    assert (twice.status_code, twice.json()["code"]) == (422, "too_many_files"), twice.text
    assert twice.headers["content-type"].startswith("application/problem+json")
    wrong_name = await upload_files(ingest, seller_id, {"upload": ("a.csv", one, "text/csv")})
    assert (wrong_name.status_code, wrong_name.json()["code"]) == (422, "unexpected_part")
    assert wrong_name.json()["part"] == "upload" and "'upload'" in wrong_name.json()["detail"]
    # A form field beside the file, after it (httpx puts data= fields first, so this is by hand) and before it.
    after, content_type = _multipart([("file", "a.csv", "text/csv", one), ("note", None, None, b"hello")])
    late = await ingest.client.post(
        "/v1/disputes/import", content=after, headers={**ingest.seller(seller_id), "content-type": content_type}
    )
    assert (late.status_code, late.json()["code"], late.json()["part"]) == (422, "unexpected_part", "note")
    early = await upload_files(ingest, seller_id, {"file": ("a.csv", one, "text/csv")}, data={"seller": "x"})
    assert (early.status_code, early.json()["code"], early.json()["part"]) == (422, "unexpected_part", "seller")
    only_fields, content_type = _multipart([])
    none = await ingest.client.post(
        "/v1/disputes/import", content=only_fields, headers={**ingest.seller(seller_id), "content-type": content_type}
    )
    assert (none.status_code, none.json()["code"]) == (422, "csv_file_missing")
    assert await seller_cases(ingest, seller_id) == 0


async def test_a_thirty_megabyte_file_is_refused_with_413_and_nothing_is_stored(ingest: Ingest):
    seller_id, _ = await ingest.onboard()
    head = _csv(f"CD-{uuid.uuid4().hex[:8]}")
    big = head + b"x" * (30 * 1024 * 1024)
    declared = await upload_files(ingest, seller_id, {"file": ("big.csv", big, "text/csv")})
    assert (declared.status_code, declared.json()["code"]) == (413, "payload_too_large")
    # The same without a Content-Length: refused as the file's bytes pass the limit.
    body, content_type = _multipart([("file", "big.csv", "text/csv", big)])

    async def chunks():
        for start in range(0, len(body), 1024 * 1024):
            yield body[start : start + 1024 * 1024]

    streamed = await ingest.client.post(
        "/v1/disputes/import", content=chunks(), headers={**ingest.seller(seller_id), "content-type": content_type}
    )
    assert (streamed.status_code, streamed.json()["code"]) == (413, "payload_too_large")
    raw = await upload(ingest, seller_id, big)
    assert (raw.status_code, raw.json()["code"]) == (413, "payload_too_large")
    assert await seller_cases(ingest, seller_id) == 0


async def test_a_malformed_multipart_body_is_a_400_and_nothing_is_stored(ingest: Ingest):
    seller_id, _ = await ingest.onboard()
    csv_bytes = _csv(f"CD-{uuid.uuid4().hex[:8]}")
    cut, content_type = _multipart([("file", "a.csv", "text/csv", csv_bytes)], close=False)
    headers = {**ingest.seller(seller_id), "content-type": content_type}
    truncated = await ingest.client.post("/v1/disputes/import", content=cut, headers=headers)
    assert (truncated.status_code, truncated.json()["code"]) == (400, "malformed_multipart")
    garbage = await ingest.client.post("/v1/disputes/import", content=b"not multipart at all", headers=headers)
    assert (garbage.status_code, garbage.json()["code"]) == (400, "malformed_multipart")
    nameless = cut.replace(b'name="file"; ', b"") + b"--dd-test-boundary-7f3a--\r\n"
    unnamed = await ingest.client.post("/v1/disputes/import", content=nameless, headers=headers)
    assert (unnamed.status_code, unnamed.json()["code"]) == (400, "malformed_multipart")
    no_boundary = {**ingest.seller(seller_id), "content-type": "multipart/form-data"}
    missing = await ingest.client.post("/v1/disputes/import", content=cut, headers=no_boundary)
    assert (missing.status_code, missing.json()["code"]) == (400, "malformed_multipart")
    assert await seller_cases(ingest, seller_id) == 0


async def test_part_headers_over_8_kb_are_a_400_part_headers_too_large_and_nothing_is_stored(ingest: Ingest):
    """The shared multipart reader's header cap (shared/web/multipart.py), at the import's 8 KB."""
    seller_id, _ = await ingest.onboard()
    csv_bytes = _csv(f"CD-{uuid.uuid4().hex[:8]}")
    body, content_type = _multipart([("file", "a.csv", "text/csv; x-pad=" + "a" * 9000, csv_bytes)])
    headers = {**ingest.seller(seller_id), "content-type": content_type}
    answer = await ingest.client.post("/v1/disputes/import", content=body, headers=headers)
    assert (answer.status_code, answer.json()["code"]) == (400, "part_headers_too_large")
    assert answer.json()["limit"] == 8 * 1024
    assert await seller_cases(ingest, seller_id) == 0


async def test_a_body_that_is_neither_csv_nor_multipart_is_a_415_saying_what_to_send(ingest: Ingest):
    seller_id, _ = await ingest.onboard()
    csv_bytes = _csv(f"CD-{uuid.uuid4().hex[:8]}")
    for content_type in ("application/json", "application/octet-stream", "application/x-www-form-urlencoded"):
        answer = await upload(ingest, seller_id, csv_bytes, content_type=content_type)
        assert (answer.status_code, answer.json()["code"]) == (415, "unsupported_content_type"), content_type
        assert "text/csv" in answer.json()["detail"] and "multipart/form-data" in answer.json()["detail"]
    assert await seller_cases(ingest, seller_id) == 0
