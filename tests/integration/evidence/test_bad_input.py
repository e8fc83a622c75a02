"""Bad input (issue 9): each a clear 4xx or a `file_unreadable` finding, never a 500, never a
half-stored item (rows, blobs and staged files are counted), and the service stays responsive."""

from __future__ import annotations

import asyncio
import io
import json
import time

import pytest
from PIL import Image

from tests.integration.evidence.conftest import ORDER, Evidence, sample
from tests.unit.evidence.test_extract import encrypt, make_pdf, png_header_bomb


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 10)).save(buf, "PNG")
    return buf.getvalue()


class Nothing:
    """Asserts that a refused upload left nothing behind: no row, no new blob, no staged file."""

    def __init__(self, evidence: Evidence, dispute: str) -> None:
        self.evidence, self.dispute = evidence, dispute

    async def __aenter__(self) -> Nothing:
        self.rows, self.blobs = await self.evidence.item_count(self.dispute), self.evidence.blob_files()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert await self.evidence.item_count(self.dispute) == self.rows
            assert self.evidence.blob_files() == self.blobs
            assert self.evidence.staged_files() == []
            assert await self.evidence.outbox_types(self.dispute) == []


def refused(answer, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == code, answer.json()


PHOTO = {"kind": "product_photo"}
TRACKING = {"kind": "tracking_record", "carrier": "CJ", "tracking_number": "651234567890", "order_id": ORDER}


async def test_a_png_named_pdf_is_refused_415(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    async with Nothing(evidence, dispute):
        answer = await evidence.upload(dispute, seller, TRACKING, ("label.pdf", png(), "application/pdf"))
        refused(answer, 415, "media_type_mismatch")


async def test_a_file_over_the_limit_is_refused_413_and_nothing_is_left_on_disk(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    big = b"%PDF-1.7\n" + b"0" * (25 * 1024 * 1024)
    async with Nothing(evidence, dispute):
        answer = await evidence.upload(dispute, seller, TRACKING, ("big.pdf", big, "application/pdf"))
        refused(answer, 413, "payload_too_large")


async def test_a_type_not_allowed_is_refused_415(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    zip_bytes = b"PK\x03\x04" + b"\x00" * 200
    async with Nothing(evidence, dispute):
        answer = await evidence.upload(dispute, seller, PHOTO, ("bomb.zip", zip_bytes, "application/zip"))
        refused(answer, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("cut.pdf", make_pdf(["delivered 2026-10-28 14:22 KST"])[:-200], "truncated"),
        ("locked.pdf", encrypt(make_pdf(["delivered"]), ""), "encrypted"),
        ("bomb.png", png_header_bomb(60000, 60000), "too_large"),
    ],
)
async def test_a_file_that_does_not_open_is_stored_and_reported_file_unreadable(
    evidence: Evidence, name, content, reason
):
    """Intake sniffs magic bytes; whether the file opens is the extractor's finding, with its reason."""
    seller, dispute = await evidence.new_case()
    kind = PHOTO if name.endswith(".png") else TRACKING
    media = "image/png" if name.endswith(".png") else "application/pdf"
    answer = await evidence.upload(dispute, seller, kind, (name, content, media))
    assert answer.status_code == 201, answer.text
    assert answer.json()["facts"]["readable"] is False
    assert answer.json()["facts"]["unreadable_reason"] == reason
    report = await evidence.client.post(
        f"/v1/cases/{dispute}/evidence/check?lang=en", headers=evidence.seller_headers(seller)
    )
    unreadable = [f for f in report.json()["findings"] if f["rule"] == "file_unreadable"]
    assert [f["evidence_id"] for f in unreadable] == [answer.json()["evidence_id"]]
    assert evidence.staged_files() == []


@pytest.mark.parametrize("name", ["../../etc/passwd", "..\\..\\boot.ini", "a\x00b\x1b[31m\r\nc.txt", "/"])
async def test_file_names_are_sanitised(evidence: Evidence, name):
    seller, dispute = await evidence.new_case()
    answer = await evidence.upload(dispute, seller, {"kind": "other"}, (name, b"plain words", "text/plain"))
    assert answer.status_code == 201, answer.text
    stored = answer.json()["filename"]
    assert "/" not in stored and "\\" not in stored and ".." not in stored
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in stored)
    content = await evidence.client.get(answer.json()["content_url"], headers=evidence.seller_headers(seller))
    assert content.content == b"plain words"
    assert "\n" not in content.headers["content-disposition"]


@pytest.mark.parametrize(
    "meta, status, code",
    [
        ({"kind": "receipt_scan"}, 422, "unknown_kind"),
        ({"carrier": "CJ"}, 422, "unknown_kind"),
        ("not json at all", 400, "malformed_meta"),
        ("[1, 2]", 400, "malformed_meta"),
        ('{"kind": "statement", "text": "a\\u0000b"}', 400, "malformed_meta"),
        ({"kind": "tracking_record", "tracking_numbr": "1"}, 422, "invalid_meta"),
        ({"kind": "message_log", "messages": [{"sender": "robot", "text": "hi"}]}, 422, "invalid_meta"),
        ({"kind": "product_photo"}, 422, "file_required"),
        ({"kind": "statement"}, 422, "file_required"),
        (None, 422, "meta_required"),
    ],
)
async def test_bad_meta_is_refused_with_its_code(evidence: Evidence, meta, status, code):
    seller, dispute = await evidence.new_case()
    async with Nothing(evidence, dispute):
        if meta is None:
            answer = await evidence.upload(dispute, seller, None, ("a.txt", b"words", "text/plain"))
        else:
            answer = await evidence.upload(dispute, seller, meta, as_json=True)
        refused(answer, status, code)
        if meta is not None and code != "file_required":  # the same meta beside a file
            answer = await evidence.upload(dispute, seller, meta, ("a.txt", b"words", "text/plain"))
            refused(answer, status, code)


async def test_a_hundred_thousand_messages_are_refused_at_once_with_the_limit(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    messages = [
        {"sent_at": "2026-10-29T09:12:00+09:00", "sender": "buyer", "text": f"메시지 {n}"} for n in range(100_000)
    ]
    huge = {"kind": "message_log", "source": "coupang_messages", "messages": messages}
    compact = {"kind": "message_log", "messages": [{"sender": "buyer"} for _ in range(20_000)]}
    async with Nothing(evidence, dispute):
        started = time.perf_counter()
        refused(await evidence.upload(dispute, seller, huge, as_json=True), 413, "meta_too_large")
        refused(await evidence.upload(dispute, seller, huge), 413, "meta_too_large")
        answer = await evidence.upload(dispute, seller, compact, as_json=True)
        refused(answer, 422, "too_many_messages")
        assert answer.json()["limit"] == 10_000
        assert time.perf_counter() - started < 10


async def test_a_body_that_is_neither_multipart_nor_json_is_refused_400(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    answer = await evidence.client.post(
        f"/v1/cases/{dispute}/evidence",
        content=json.dumps(sample("pod_complete")),
        headers={**evidence.seller_headers(seller), "content-type": "text/plain"},
    )
    refused(answer, 400, "malformed_multipart")


async def test_the_service_answers_while_a_large_pdf_is_being_read(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    lines = [f"CJ대한통운 배송조회 651234567890 line {n} 2026-10-28 14:22 KST" for n in range(40)]
    pdf = make_pdf(lines, pages=150, font="HYSMyeongJo-Medium")
    upload = asyncio.create_task(evidence.upload(dispute, seller, TRACKING, ("long.pdf", pdf, "application/pdf")))
    worst = 0.0
    pings = 0
    while not upload.done():
        started = time.perf_counter()
        assert (await evidence.client.get("/healthz")).status_code == 200
        worst = max(worst, time.perf_counter() - started)
        pings += 1
        await asyncio.sleep(0.01)
    assert (await upload).status_code == 201
    assert pings >= 3, "the upload finished too fast to tell"
    assert worst < 0.5, f"a health check waited {worst:.3f} s during extraction"


async def test_an_empty_file_is_refused_422(evidence: Evidence):
    seller, dispute = await evidence.new_case()
    async with Nothing(evidence, dispute):
        refused(await evidence.upload(dispute, seller, PHOTO, ("p.jpg", b"", "image/jpeg")), 422, "empty_file")
