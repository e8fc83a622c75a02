"""The rules that read a screenshot's OCR text (issue 22), with OcrRead values built here (no OCR)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from services.evidence.checker import ExtractedFacts, Finding, check, render
from services.evidence.checker.model import EvidenceItem, OcrLine, OcrRead
from tests.unit.evidence.packages import NOW, ORDER, case, clean, item, photo

OTHER_ORDER = "3000987650002"


def ocr(*texts: str, confidence: float = 91.0) -> OcrRead:
    lines = tuple(OcrLine(t, confidence, (40, 100 + 80 * n, 900, 44)) for n, t in enumerate(texts))
    return OcrRead("\n".join(texts), confidence, lines)


def shot(evidence_id: str, kind: str, read: OcrRead, meta: dict[str, Any] | None = None, **facts: Any) -> EvidenceItem:
    extracted = ExtractedFacts(width=1080, height=1920, ocr=read, **facts)
    return item(evidence_id, kind, meta or {}, media_type="image/png", sha256="b" * 64, extracted=extracted)


def coupang_chat(order_id: str = ORDER, *, with_times: bool = True, confidence: float = 91.0) -> OcrRead:
    times = ["문의일시 2024.05.12 14:22"] if with_times else []
    return ocr(
        "14:30",
        "쿠팡 Coupang 판매자센터",
        "고객문의 상세",
        f"주문번호 {order_id}",
        *times,
        "안녕하세요. 주문한 상품이 아직 도착하지 않았습니다.",
        *(["2024.05.12 14:22"] if with_times else []),
        "고객님, 불편을 드려 죄송합니다.",
        *(["오후 2:25"] if with_times else []),
        "답변 입력",
        confidence=confidence,
    )


def wechat_chat(confidence: float = 91.0) -> OcrRead:
    return ocr(
        "14:30",
        "< 微信",
        "买家 王先生",
        "2024年5月12日 14:22",
        "你好，我的包裹还没收到。",
        "发送消息",
        confidence=confidence,
    )


def tracking_page(status: str, *, carrier: str = "CJ대한통운 배송조회", confidence: float = 91.0) -> OcrRead:
    return ocr(
        carrier,
        "운송장번호 641234567890",
        f"주문번호 {ORDER}",
        f"배송상태 {status}",
        "수령인 김민수",
        "주소 서울특별시 강남구 테헤란로 152 3층",
        "처리일시 2024.05.13 10:41",
        "2024.05.12 18:10 집화처리",
        confidence=confidence,
    )


COUPANG_LOG = {"source": "coupang_messages", "order_id": ORDER}
TRACKING = {"carrier": "CJ", "tracking_number": "641234567890", "order_id": ORDER}


def run(reason: str, *extra: EvidenceItem):  # noqa: ANN201
    return check(case(reason), [*clean(reason), *extra], (), now=NOW)


def of(report, evidence_id: str) -> list[tuple[str, str]]:  # noqa: ANN001
    return [(f.rule, f.severity) for f in report.findings if f.evidence_id == evidence_id]


def finding(report, evidence_id: str, rule: str):  # noqa: ANN001, ANN201
    [found] = [f for f in report.findings if f.evidence_id == evidence_id and f.rule == rule]
    return found


# --- a Coupang chat with times and the order id passes ---------------------------------------------


@pytest.mark.parametrize("reason", ["NOT_RECEIVED", "NOT_AS_DESCRIBED", "CREDIT_NOT_PROCESSED"])
def test_a_coupang_chat_screenshot_with_times_and_the_order_id_passes(reason):
    report = run(reason, shot("chat", "message_log", coupang_chat(), COUPANG_LOG))
    assert of(report, "chat") == []
    [ref] = [r for r in report.evidence_set if r.evidence_id == "chat"]
    assert (ref.captured_at, ref.captured_from) == ("2024-05-12T14:25:00", "image_text")  # the latest time shown


def test_the_capture_time_comes_from_meta_then_exif_then_the_image():
    exif = datetime.fromisoformat("2026-10-25T10:05:00+09:00")
    items = [
        shot("m", "message_log", coupang_chat(), {**COUPANG_LOG, "captured_at": "2026-10-29T09:00:00+09:00"}),
        shot("e", "message_log", coupang_chat(), COUPANG_LOG, exif_time=exif),
        shot("i", "message_log", coupang_chat(), COUPANG_LOG),
        photo("p", extracted=ExtractedFacts(width=10, height=10)),
    ]
    report = check(case("DAMAGED"), items, (), now=NOW)
    refs = {r.evidence_id: (r.captured_from, r.captured_at) for r in report.evidence_set}
    assert refs == {
        "m": ("meta", "2026-10-29T09:00:00+09:00"),
        "e": ("exif", "2026-10-25T10:05:00+09:00"),
        "i": ("image_text", "2024-05-12T14:25:00"),
        "p": (None, None),
    }


# --- timestamp_missing -----------------------------------------------------------------------------


def test_the_same_chat_without_times_is_timestamp_missing():
    report = run("NOT_RECEIVED", shot("chat", "message_log", coupang_chat(with_times=False), COUPANG_LOG))
    assert of(report, "chat") == [("timestamp_missing", "blocker")]
    f = finding(report, "chat", "timestamp_missing")
    assert f.params["image"] == "not_found" and f.fields == ("captured_at",)
    [rendered] = [r for r in render(report, "en") if r["evidence_id"] == "chat"]
    assert rendered["message"].endswith("Not found in the image's text either.")
    assert "screenshot where the date and time are visible" in rendered["fix"]


def test_a_status_bar_clock_alone_is_no_capture_time():
    report = run("NOT_RECEIVED", shot("chat", "message_log", ocr("14:30", "쿠팡", f"주문번호 {ORDER}"), COUPANG_LOG))
    assert of(report, "chat") == [("timestamp_missing", "blocker")]


def test_a_time_read_in_the_image_raises_no_zone_warning():
    report = run("NOT_RECEIVED", shot("chat", "message_log", coupang_chat(), COUPANG_LOG))
    assert [f for f in report.findings if f.rule == "timezone_missing"] == []


def test_a_product_photo_with_no_exif_is_still_a_blocker_whatever_ocr_read():
    bare = shot("p", "product_photo", OcrRead("", 0.0))
    stamped = shot("s", "product_photo", ocr("2026.10.25 10:05"))
    report = check(case("DAMAGED"), [*clean("DAMAGED"), bare, stamped], (), now=NOW)
    assert of(report, "p") == [("timestamp_missing", "blocker")]
    assert "image" not in finding(report, "p", "timestamp_missing").params
    assert of(report, "s") == []  # a camera's time stamp printed on the photo counts


# --- message_source_not_accepted ------------------------------------------------------------------


def test_a_wechat_screenshot_sent_as_coupang_messages_is_not_accepted():
    report = run("NOT_RECEIVED", shot("wx", "message_log", wechat_chat(), COUPANG_LOG))
    assert of(report, "wx") == [("message_source_not_accepted", "blocker")]
    f = finding(report, "wx", "message_source_not_accepted")
    assert f.params["source"] == "wechat"
    assert (f.params["image"], f.params["image_text"], f.params["image_box"]) == ("found", "< 微信", "40,180,900,44")
    [zh] = [r for r in render(report, "zh") if r["evidence_id"] == "wx"]
    assert "微信" in zh["message"] and "图片中识别到：“< 微信”" in zh["message"]
    assert zh["image_text"] == {"text": "< 微信", "box": [40, 180, 900, 44], "confidence": 91}


@pytest.mark.parametrize(
    ("lines", "source"),
    [
        (("카카오톡 KakaoTalk", "구매자 김민수", "택배가 아직 안 왔어요."), "kakaotalk"),
        (("WhatsApp", "hi"), "whatsapp"),
    ],
)
def test_other_messengers_whatever_the_meta_says(lines, source):
    report = run("NOT_RECEIVED", shot("x", "message_log", ocr(*lines, "2024.05.12 14:22"), COUPANG_LOG))
    assert finding(report, "x", "message_source_not_accepted").params["source"] == source


def test_a_declared_wechat_log_is_flagged_once():
    report = run("NOT_RECEIVED", shot("wx", "message_log", wechat_chat(), {"source": "wechat"}))
    assert of(report, "wx") == [("message_source_not_accepted", "blocker")]


def test_a_coupang_chat_where_the_buyer_names_kakaotalk_is_accepted():
    read = ocr(
        "쿠팡 판매자센터",
        *["…"] * 8,
        f"주문번호 {ORDER}",
        "2024.05.12 14:22",
        "혹시 카카오톡으로 사진 보내도 될까요?",
        *["…"] * 8,
    )
    assert of(run("NOT_RECEIVED", shot("chat", "message_log", read, COUPANG_LOG)), "chat") == []


# --- platform_id_missing ---------------------------------------------------------------------------


def test_a_chat_with_neither_the_order_id_nor_a_coupang_marker():
    read = ocr("2024.05.12 14:22", "안녕하세요. 상품이 아직 안 왔어요.", "확인해 보겠습니다.")
    report = run("NOT_RECEIVED", shot("chat", "message_log", read, COUPANG_LOG))
    assert of(report, "chat") == [("platform_id_missing", "blocker")]
    f = finding(report, "chat", "platform_id_missing")
    assert f.params["case_order_id"] == ORDER and f.fields == ("order_id",)
    [ko] = [r for r in render(report, "ko") if r["evidence_id"] == "chat"]
    assert ORDER in ko["message"] and "쿠팡" in ko["message"]


@pytest.mark.parametrize("lines", [(f"주문번호 {ORDER}",), ("Coupang",), (f"{ORDER[:4]} {ORDER[4:]}",)])
def test_the_order_id_or_a_coupang_marker_is_enough(lines):
    read = ocr("2024.05.12 14:22", *lines)
    assert of(run("NOT_RECEIVED", shot("chat", "message_log", read, COUPANG_LOG)), "chat") == []


def test_a_tracking_page_without_either_and_kinds_it_does_not_apply_to():
    page = ocr("배송조회", "배송상태 배송완료", "2024.05.13 10:41")
    report = run(
        "NOT_RECEIVED",
        shot("trk", "tracking_record", page, TRACKING),
        shot("photo", "product_photo", page),
        shot("label", "shipping_label", page, TRACKING),
    )
    assert ("platform_id_missing", "blocker") in of(report, "trk")
    assert [r for r, _ in of(report, "photo") + of(report, "label") if r == "platform_id_missing"] == []


def test_a_carrier_page_showing_the_declared_waybill_number_is_tied_to_the_case():
    # A CJ대한통운 page names its waybill, not the Coupang order: the tracking record's number ties it.
    page = ocr("CJ대한통운 배송조회", "운송장번호 6412-3456-7890", "배송상태 배송완료", "2024.05.13 10:41")
    assert [r for r, _ in of(run("NOT_RECEIVED", shot("cj", "tracking_record", page, TRACKING)), "cj")] == []
    other = {**TRACKING, "tracking_number": "999988887777"}
    report = run("NOT_RECEIVED", shot("cj", "tracking_record", page, other))
    assert ("platform_id_missing", "blocker") in of(report, "cj")  # another waybill than the one declared


def test_platform_id_is_not_asked_of_an_item_without_ocr():
    log = item("chat", "message_log", COUPANG_LOG, media_type="image/png", extracted=ExtractedFacts(width=9, height=9))
    assert [r for r, _ in of(run("NOT_RECEIVED", log), "chat") if r == "platform_id_missing"] == []


# --- order_mismatch --------------------------------------------------------------------------------


def test_another_order_id_in_the_image():
    report = run("NOT_RECEIVED", shot("chat", "message_log", coupang_chat(OTHER_ORDER), COUPANG_LOG))
    assert of(report, "chat") == [("order_mismatch", "blocker")]
    f = finding(report, "chat", "order_mismatch")
    assert (f.params["order_id"], f.params["case_order_id"]) == (OTHER_ORDER, ORDER)
    assert f.params["image_text"] == f"주문번호 {OTHER_ORDER}"


def test_an_image_showing_the_case_order_too_is_no_mismatch():
    read = ocr("쿠팡", f"주문번호 {OTHER_ORDER}", f"주문번호 {ORDER}", "2024.05.12 14:22")
    assert of(run("NOT_RECEIVED", shot("chat", "message_log", read, COUPANG_LOG)), "chat") == []


def test_a_meta_mismatch_is_reported_once():
    report = run(
        "NOT_RECEIVED", shot("chat", "message_log", coupang_chat(OTHER_ORDER), {**COUPANG_LOG, "order_id": "1"})
    )
    assert [f.params["order_id"] for f in report.findings if f.rule == "order_mismatch"] == ["1"]


# --- not_delivered_status / delivery_proof_incomplete ---------------------------------------------


@pytest.mark.parametrize(
    ("status", "shown"), [("배송중", "in_transit"), ("운송중 运输中", "in_transit"), ("배송출발", "out_for_delivery")]
)
def test_a_tracking_page_that_is_not_delivered(status, shown):
    report = run("NOT_RECEIVED", shot("trk", "tracking_record", tracking_page(status), TRACKING))
    assert of(report, "trk") == [("not_delivered_status", "blocker")]
    f = finding(report, "trk", "not_delivered_status")
    assert f.params["status"] == shown and f.params["image_text"] == f"배송상태 {status}"


@pytest.mark.parametrize("status", ["배송완료", "已签收", "Delivered"])
def test_a_delivered_tracking_page_passes(status):
    assert of(run("NOT_RECEIVED", shot("trk", "tracking_record", tracking_page(status), TRACKING)), "trk") == []


def test_the_meta_status_wins_over_the_image():
    meta = {**TRACKING, "status": "delivered"}
    assert of(run("NOT_RECEIVED", shot("trk", "tracking_record", tracking_page("배송중"), meta)), "trk") == []


def test_a_page_showing_no_status_is_unknown():
    report = run(
        "NOT_RECEIVED", shot("trk", "tracking_record", ocr("쿠팡", f"주문번호 {ORDER}", "2024.05.13"), TRACKING)
    )
    f = finding(report, "trk", "not_delivered_status")
    assert (f.params["status"], f.params["image"], f.severity) == ("unknown", "not_found", "blocker")


def test_a_proof_of_delivery_read_from_a_korean_carriers_page_is_complete():
    report = run("NOT_RECEIVED", shot("pod2", "proof_of_delivery", tracking_page("배송완료"), TRACKING))
    assert of(report, "pod2") == []


def test_a_proof_of_delivery_image_missing_fields():
    read = ocr("쿠팡", f"주문번호 {ORDER}", "배송완료", "2024.05.13 10:41", "주소 서울특별시 강남구 테헤란로 152")
    report = run("NOT_RECEIVED", shot("pod2", "proof_of_delivery", read, TRACKING))
    f = finding(report, "pod2", "delivery_proof_incomplete")
    assert (f.fields, f.severity, f.params["image"]) == (("recipient_name", "address"), "blocker", "not_found")


def test_a_delivery_time_without_zone_off_a_page_that_is_not_korean_is_missing():
    read = ocr(f"Order ID {ORDER}", "Delivered", "Recipient Kim", "152 Teheran street, 3F", "2024-05-13 10:41")
    report = run("NOT_RECEIVED", shot("pod2", "proof_of_delivery", read, TRACKING))
    assert finding(report, "pod2", "delivery_proof_incomplete").fields == ("delivered_at",)


# --- honest uncertainty ------------------------------------------------------------------------------


def test_a_blurred_screenshot_yields_warnings_not_blockers():
    blurred = ocr("쿠핑 C0upa", "2O2 4.O", "아녕하세", confidence=23.0)
    items = [
        shot("chat", "message_log", blurred, COUPANG_LOG),
        shot("trk", "tracking_record", blurred, TRACKING),
        shot("pod2", "proof_of_delivery", blurred, TRACKING),
    ]
    report = run("NOT_RECEIVED", *items)
    mine = [(f.evidence_id, f.rule, f.severity) for f in report.findings if f.evidence_id in ("chat", "trk", "pod2")]
    assert mine and {s for _, _, s in mine} == {"warning"}
    assert {(e, r) for e, r, _ in mine} >= {
        ("chat", "timestamp_missing"),
        ("chat", "platform_id_missing"),
        ("trk", "not_delivered_status"),
        ("pod2", "delivery_proof_incomplete"),
    }
    assert report.status == "ready"
    rendered = [r for r in render(report, "en") if r["evidence_id"] == "chat"]
    assert all("could not be read with confidence (OCR confidence 23/100)" in r["message"] for r in rendered)


def test_nothing_read_at_all_is_uncertain_too():
    report = run("NOT_RECEIVED", shot("chat", "message_log", OcrRead("", 0.0), COUPANG_LOG))
    assert {s for _, s in of(report, "chat")} == {"warning"}


def test_a_low_confidence_line_makes_its_finding_a_warning():
    lines = (*wechat_chat().lines[:1], OcrLine("< 微信", 35.0, (40, 100, 200, 44)), *wechat_chat().lines[2:])
    report = run("NOT_RECEIVED", shot("wx", "message_log", OcrRead("", 88.0, lines), COUPANG_LOG))
    f = finding(report, "wx", "message_source_not_accepted")
    assert (f.severity, f.params["image"], f.params["image_confidence"]) == ("warning", "uncertain", "35")
    [ko] = [r for r in render(report, "ko") if r["evidence_id"] == "wx"]
    assert '"< 微信"(으)로 읽혔지만 신뢰도가 낮습니다(OCR 35/100)' in ko["message"]
    assert ko["severity"] == "warning"


def test_a_clear_line_in_a_blurred_image_is_still_uncertain():
    lines = (OcrLine("쿠팡", 90.0, (40, 100, 200, 44)), OcrLine(f"주문번호 {OTHER_ORDER}", 88.0, (40, 300, 600, 44)))
    report = run("NOT_RECEIVED", shot("chat", "message_log", OcrRead("", 41.0, lines), COUPANG_LOG))
    f = finding(report, "chat", "order_mismatch")
    assert (f.severity, f.params["image"], f.params["image_confidence"]) == ("warning", "uncertain", "41")


def test_findings_not_resting_on_the_image_keep_their_severity():
    blurred = OcrRead("", 0.0)
    report = run("NOT_RECEIVED", shot("wx", "message_log", blurred, {"source": "wechat"}))
    assert ("message_source_not_accepted", "blocker") in of(report, "wx")


@pytest.mark.parametrize("lang", ["zh", "ko", "en"])
@pytest.mark.parametrize("state", ["found", "not_found", "uncertain"])
@pytest.mark.parametrize("quoted", [True, False])
def test_every_image_note_renders_in_every_language(lang, state, quoted):
    quote = {"image_text": "< 微信", "image_box": "40,100,200,44"} if quoted else {}
    params = {"source": "wechat", "image": state, "image_confidence": "35", **quote}
    report = check(case("NOT_RECEIVED"), [], (), now=NOW)
    report = type(report)(
        "needs_fix",
        report.ruleset_version,
        (Finding("message_source_not_accepted", "warning", "e", (), params),),
        (),
        "NOT_RECEIVED",
        NOW,
    )
    [out] = render(report, lang)
    assert "{" not in out["message"] and out["message"].count("35") == (state == "uncertain")
    assert (out.get("image_text") is not None) == quoted
    if quoted:
        assert out["image_text"] == {"text": "< 微信", "box": [40, 100, 200, 44], "confidence": 35}
