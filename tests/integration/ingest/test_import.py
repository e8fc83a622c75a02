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
    binary = await upload(ingest, seller_id, png, content_type="application/octet-stream")
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
