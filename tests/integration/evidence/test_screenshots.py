"""Issue 22, "Prove it": screenshots the tests draw (tests/screens.py), uploaded through the API, read
by the real Tesseract at upload, and what the checker makes of them (POST …/check, GET …/report)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests import screens
from tests.integration.evidence.conftest import ORDER, Evidence

OTHER_ORDER = "3000987650002"
COUPANG_LOG = {"kind": "message_log", "source": "coupang_messages", "order_id": ORDER}
TRACKING = {"kind": "tracking_record", "carrier": "CJ", "tracking_number": "641234567890", "order_id": ORDER}


async def upload_and_check(
    evidence: Evidence, png: bytes, meta: dict[str, Any], *, lang: str = "en"
) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    """(evidence_id, the report, the findings on that item). A chat backs a NOT_AS_DESCRIBED case (where
    the buyer's confirmation is not asked for), a tracking page a NOT_RECEIVED one."""
    reason = "NOT_AS_DESCRIBED" if meta["kind"] == "message_log" else "NOT_RECEIVED"
    seller, dispute = await evidence.new_case(reason_code=reason)
    answer = await evidence.upload(dispute, seller, meta, ("screen.png", png, "image/png"))
    assert answer.status_code == 201, answer.text
    item = answer.json()
    assert item["facts"]["ocr"] is not None, item["facts"]  # read at upload
    report = await evidence.client.post(
        f"/v1/cases/{dispute}/evidence/check", params={"lang": lang}, headers=evidence.seller_headers(seller)
    )
    assert report.status_code == 200, report.text
    body = report.json()
    return item["evidence_id"], body, [f for f in body["findings"] if f["evidence_id"] == item["evidence_id"]]


def rules(findings: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(f["rule"], f["severity"]) for f in findings]


def cropped_chat() -> bytes:
    """A Coupang chat cropped under its header: neither the order id nor a Coupang marker is left."""
    image = Image.open(io.BytesIO(screens.coupang_chat(ORDER))).convert("RGB")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 70, screens.WIDTH, 440), fill=screens.PAPER)
    draw.rectangle((0, 1780, screens.WIDTH, screens.HEIGHT), fill=screens.PAPER)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def test_a_coupang_chat_screenshot_with_times_and_the_order_id_passes(evidence: Evidence):
    evidence_id, report, mine = await upload_and_check(evidence, screens.coupang_chat(ORDER), COUPANG_LOG)
    assert mine == []
    [ref] = [e for e in report["evidence_set"] if e["evidence_id"] == evidence_id]
    assert ref["captured_from"] == "image_text" and ref["captured_at"].startswith("2024-05-13T09:05")


async def test_the_same_chat_without_times_is_timestamp_missing(evidence: Evidence):
    _, _, mine = await upload_and_check(evidence, screens.coupang_chat(ORDER, with_times=False), COUPANG_LOG)
    assert rules(mine) == [("timestamp_missing", "blocker")]
    assert mine[0]["message"].endswith("Not found in the image's text either.")


async def test_a_wechat_screenshot_is_not_accepted_even_as_coupang_messages(evidence: Evidence):
    evidence_id, report, mine = await upload_and_check(evidence, screens.wechat_chat(), COUPANG_LOG, lang="zh")
    assert rules(mine) == [("message_source_not_accepted", "blocker")]
    quote = mine[0]["image_text"]
    assert "微信" in quote["text"] and quote["confidence"] >= 60
    left, top, width, height = quote["box"]
    assert top < 200 and width > 0 and height > 0  # the title bar, where the dashboard marks it
    assert "微信" in mine[0]["message"] and report["status"] == "needs_fix"


async def test_a_kakaotalk_screenshot_is_not_accepted_either(evidence: Evidence):
    _, _, mine = await upload_and_check(evidence, screens.kakao_chat(ORDER), COUPANG_LOG, lang="ko")
    assert rules(mine) == [("message_source_not_accepted", "blocker")]
    assert "카카오톡" in mine[0]["message"]


async def test_a_tracking_page_showing_in_transit_is_not_delivered(evidence: Evidence):
    _, _, mine = await upload_and_check(evidence, screens.tracking_page("배송중", order_id=ORDER), TRACKING)
    assert rules(mine) == [("not_delivered_status", "blocker")]
    assert "'in transit'" in mine[0]["message"] and mine[0]["image_text"]["text"] == "배송상태 배송중"


async def test_a_delivered_tracking_page_as_proof_of_delivery_passes(evidence: Evidence):
    page = screens.tracking_page("배송완료", order_id=ORDER)
    _, _, mine = await upload_and_check(evidence, page, {**TRACKING, "kind": "proof_of_delivery"})
    assert mine == []  # status, recipient, Korean time and address with floor all read off the page


async def test_another_order_id_in_the_image_is_order_mismatch(evidence: Evidence):
    _, _, mine = await upload_and_check(evidence, screens.coupang_chat(OTHER_ORDER), COUPANG_LOG)
    assert rules(mine) == [("order_mismatch", "blocker")]
    assert OTHER_ORDER in mine[0]["message"] and OTHER_ORDER in mine[0]["image_text"]["text"]


async def test_a_chat_with_no_order_id_and_no_coupang_marker_is_platform_id_missing(evidence: Evidence):
    _, _, mine = await upload_and_check(evidence, cropped_chat(), COUPANG_LOG)
    assert rules(mine) == [("platform_id_missing", "blocker")]
    assert ORDER in mine[0]["message"]


@pytest.mark.parametrize(
    ("draw", "meta"),
    [
        (lambda: screens.coupang_chat(ORDER), COUPANG_LOG),
        (lambda: screens.tracking_page("배송중", order_id=ORDER), TRACKING),
        (lambda: screens.wechat_chat(), COUPANG_LOG),
    ],
    ids=["coupang_chat", "tracking_page", "wechat_chat"],
)
async def test_a_blurred_screenshot_yields_warnings_not_blockers(evidence: Evidence, draw, meta):
    _, _, mine = await upload_and_check(evidence, screens.blurred(draw(), 4), meta)
    assert mine, "a blurred screenshot proves nothing: it gets warnings"
    assert {f["severity"] for f in mine} == {"warning"}, rules(mine)
    assert all("could not be read with confidence" in f["message"] for f in mine)


async def test_the_stored_report_renders_the_quote_in_any_language(evidence: Evidence):
    seller, dispute = await evidence.new_case(reason_code="NOT_AS_DESCRIBED")
    answer = await evidence.upload(dispute, seller, COUPANG_LOG, ("wx.png", screens.wechat_chat(), "image/png"))
    assert answer.status_code == 201, answer.text
    checked = await evidence.client.post(f"/v1/cases/{dispute}/evidence/check", headers=evidence.seller_headers(seller))
    assert checked.status_code == 200
    for lang in ("zh", "ko", "en"):
        body = await evidence.client.get(
            f"/v1/cases/{dispute}/report", params={"lang": lang}, headers=evidence.seller_headers(seller)
        )
        [found] = [f for f in body.json()["findings"] if f["rule"] == "message_source_not_accepted"]
        assert "微信" in found["image_text"]["text"] and len(found["image_text"]["box"]) == 4
