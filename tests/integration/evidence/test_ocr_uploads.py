"""OCR at upload through the HTTP API with the real Tesseract: the listing shows a summary of the
read, the stored facts hold its text and lines, a read past its time limit is `file_unreadable`."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from services.evidence import models
from services.evidence.checker.ocr import OcrOptions
from tests import screens
from tests.integration.evidence.conftest import ORDER, Evidence

CHAT_META = {"kind": "message_log", "source": "coupang_messages"}


@pytest.fixture
def ocr_time_limit(evidence: Evidence) -> Iterator[None]:
    """The running service's upload rules with a tiny OCR time limit, for one test."""
    rules = evidence.context.upload_rules
    evidence.context.upload_rules = dataclasses.replace(rules, ocr=OcrOptions(timeout_s=0.05))
    yield
    evidence.context.upload_rules = rules


async def test_an_uploaded_screenshot_lists_its_ocr_summary_and_its_stored_facts_have_the_lines(
    evidence: Evidence, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
):
    seller, dispute = await evidence.new_case()
    caplog.set_level(logging.DEBUG)
    answer = await evidence.upload(dispute, seller, CHAT_META, ("chat.png", screens.coupang_chat(ORDER), "image/png"))
    assert answer.status_code == 201, answer.text
    item = answer.json()
    facts = item["facts"]
    assert facts["readable"] is True and (facts["width"], facts["height"]) == (1080, 1920)
    assert facts["ocr"]["confidence"] >= 80 and facts["ocr"]["lines"] >= 10 and facts["ocr"]["chars"] > 100
    assert facts["ocr"]["languages"] == "kor+chi_sim+eng"
    assert ORDER not in answer.text and "판매자센터" not in answer.text  # a summary, never the text

    listed = await evidence.client.get(f"/v1/cases/{dispute}/evidence", headers=evidence.seller_headers(seller))
    assert [i["facts"]["ocr"] for i in listed.json()["items"]] == [facts["ocr"]]
    assert ORDER not in listed.text

    stored = await evidence.scalar(
        select(models.evidence_items.c.facts).where(models.evidence_items.c.id == uuid.UUID(item["evidence_id"]))
    )
    ocr = stored["ocr"]
    assert ORDER in ocr["text"] and "2024.05.12 14:22" in ocr["text"] and "오후 2:31" in ocr["text"]
    assert len(ocr["lines"]) == facts["ocr"]["lines"] and sum(len(line["text"]) for line in ocr["lines"]) > 100
    order_line = next(line for line in ocr["lines"] if ORDER in line["text"])
    left, top, width, height = order_line["box"]
    assert 0 <= left < 100 and 250 < top < 350 and width > 300 and height > 20  # where it was drawn

    out, err = capfd.readouterr()
    logged = out + err + caplog.text
    assert ORDER not in logged and "판매자센터" not in logged  # the recognised text never reaches the logs


async def test_a_screenshot_whose_ocr_runs_past_its_time_limit_is_reported_unreadable_for_it(
    evidence: Evidence, ocr_time_limit: None
):
    seller, dispute = await evidence.new_case()
    answer = await evidence.upload(dispute, seller, CHAT_META, ("chat.png", screens.coupang_chat(ORDER), "image/png"))
    assert answer.status_code == 201, answer.text
    facts = answer.json()["facts"]
    assert facts["readable"] is False and facts["unreadable_reason"] == "ocr_timeout" and facts["ocr"] is None
    report = await evidence.client.post(
        f"/v1/cases/{dispute}/evidence/check?lang=zh", headers=evidence.seller_headers(seller)
    )
    assert report.status_code == 200, report.text
    unreadable = [f for f in report.json()["findings"] if f["rule"] == "file_unreadable"]
    assert len(unreadable) == 1 and "图片文字识别超时" in unreadable[0]["message"]
