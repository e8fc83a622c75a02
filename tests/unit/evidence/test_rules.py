"""Every rule of SPEC section 5: a package that triggers it and one that does not, per reason code."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.evidence.checker import (
    ExtractedFacts,
    TrackingRef,
    check,
    load_ruleset,
    tracking_key,
    tracking_refs,
)
from tests.unit.evidence.packages import (
    NOW,
    ORDER,
    REASONS,
    case,
    clean,
    invoice,
    item,
    messages,
    photo,
    pod,
    statement,
    tracking,
    translation,
)


def run(reason, items, other=(), **case_over):
    return check(case(reason, **case_over), items, other, now=NOW)


def hits(report, rule):
    return [f for f in report.findings if f.rule == rule]


def test_every_spec_rule_has_a_function_and_text():
    spec = {
        "required_evidence_missing",
        "carrier_not_accepted",
        "not_delivered_status",
        "delivery_proof_incomplete",
        "tracking_number_reused",
        "message_source_not_accepted",
        "timestamp_missing",
        "vague_statement",
        "timezone_missing",
        "korean_translation_missing",
        "translation_not_certified",
        "glossary_mismatch",
        "buyer_confirmation_missing",
        "buyer_contacted_to_withdraw",
        "order_mismatch",
        "amount_mismatch",
        "file_unreadable",
        "platform_id_missing",  # issue 22: read from a screenshot's OCR text
    }
    ruleset = load_ruleset()
    assert set(ruleset.rule_ids) == spec == set(ruleset.messages["rules"])


@pytest.mark.parametrize("reason", REASONS)
def test_clean_package_is_ready_with_no_finding(reason):
    report = run(reason, clean(reason))
    assert report.status == "ready"
    assert report.findings == ()
    assert report.ruleset_version == load_ruleset().version


# --- required_evidence_missing -------------------------------------------------------------------


@pytest.mark.parametrize("reason", REASONS)
def test_each_required_kind_left_out_is_a_blocker(reason):
    for kind in load_ruleset().required_kinds[reason]:
        items = [i for i in clean(reason) if i.kind != kind]
        report = run(reason, items)
        found = hits(report, "required_evidence_missing")
        assert [(f.params["kind"], f.severity, f.evidence_id) for f in found] == [(kind, "blocker", None)]
        assert report.status == "needs_fix"


def test_not_received_without_tracking_and_pod_misses_both():
    report = run("NOT_RECEIVED", [])
    assert [f.params["kind"] for f in hits(report, "required_evidence_missing")] == [
        "tracking_record",
        "proof_of_delivery",
    ]


# --- carrier_not_accepted ------------------------------------------------------------------------


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize(
    "carrier", ["淘宝", "Pinduoduo", "中通快递", "YTO", "申通", "韵达", "顺丰", "J&T", "菜鸟", "EMS", "Unknown Express"]
)
def test_taobao_pinduoduo_and_chinese_domestic_waybills_are_not_accepted(reason, carrier):
    report = run(reason, [*clean(reason), tracking("waybill", carrier=carrier)])
    assert [(f.evidence_id, f.severity) for f in hits(report, "carrier_not_accepted")] == [("waybill", "blocker")]


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize(
    "carrier",
    [
        "CJ",
        "CJ대한통운",
        "CJ大韩通运",
        "cj logistics",
        "로젠택배",
        "Logen",
        "한진",
        "Hanjin",
        "롯데택배",
        "우체국",
        "Korea Post",
        "우체국 EMS",
        "KGB",
        "쿠팡",
        "Coupang Logistics",
        "CLS",
        "경동택배",
        "대신택배",
        "일양로지스",
        "CJ대한통운(주)",
    ],
)
def test_korean_last_mile_carriers_are_accepted(reason, carrier):
    report = run(reason, [*clean(reason), tracking("label", carrier=carrier)])
    assert hits(report, "carrier_not_accepted") == []


def test_tracking_file_without_carrier_meta_is_judged_by_its_words():
    taobao = item(
        "t1",
        "tracking_record",
        {},
        media_type="application/pdf",
        extracted=ExtractedFacts(text="淘宝 物流详情 中通快递 运单号 7531", language="zh", pages=1),
    )
    cj = item(
        "t2",
        "tracking_record",
        {},
        media_type="application/pdf",
        extracted=ExtractedFacts(text="CJ대한통운 배송조회 배송완료", language="ko", pages=1),
    )
    report = run("NOT_RECEIVED", [taobao, cj, pod(), messages()])
    assert [f.evidence_id for f in hits(report, "carrier_not_accepted")] == ["t1"]


# --- not_delivered_status ------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["shipped", "in_transit", "out_for_delivery", "배송중", None])
def test_not_received_tracking_that_never_shows_delivered_is_a_blocker(status):
    report = run("NOT_RECEIVED", [tracking(status=status, events=[{"status": "in_transit"}]), pod(), messages()])
    assert [(f.evidence_id, f.severity) for f in hits(report, "not_delivered_status")] == [("trk", "blocker")]


def test_delivered_in_an_event_or_as_배송완료_counts_as_delivered():
    events = [{"status": "in_transit"}, {"status": "배송완료"}]
    report = run("NOT_RECEIVED", [tracking(status="in_transit", events=events), pod(status="배송완료"), messages()])
    assert hits(report, "not_delivered_status") == []


def test_a_delivery_time_without_status_counts_as_delivered_but_nothing_at_all_does_not():
    report = run("NOT_RECEIVED", [tracking(status=None), pod(status=None), messages()])
    assert hits(report, "not_delivered_status") == []
    bare = run("NOT_RECEIVED", [tracking(status=None, delivered_at=None), pod(), messages()])
    assert [(f.evidence_id, f.params["status"]) for f in hits(bare, "not_delivered_status")] == [("trk", "unknown")]


@pytest.mark.parametrize("reason", [r for r in REASONS if r != "NOT_RECEIVED"])
def test_undelivered_tracking_is_no_finding_for_other_reasons(reason):
    report = run(reason, [*clean(reason), tracking(status="in_transit")])
    assert hits(report, "not_delivered_status") == []


# --- delivery_proof_incomplete -------------------------------------------------------------------


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize(
    ("meta", "missing"),
    [
        ({"recipient_name": ""}, ("recipient_name",)),
        ({"delivered_at": None}, ("delivered_at",)),
        ({"delivered_at": "2026-10-28 14:22"}, ("delivered_at",)),  # no zone: we do not guess one
        ({"address": "서울특별시 강남구 역삼로 210"}, ("address",)),  # no floor / unit
        ({"address": "서울특별시 강남구 7층 702호"}, ("address",)),  # no building number
        (
            {"recipient_name": None, "delivered_at": None, "address": None},
            ("recipient_name", "delivered_at", "address"),
        ),
    ],
)
def test_proof_of_delivery_without_name_time_or_full_address_is_incomplete(reason, meta, missing):
    report = run(reason, [*clean(reason), pod("pod2", **meta)])
    assert [(f.evidence_id, f.fields) for f in hits(report, "delivery_proof_incomplete")] == [("pod2", missing)]


@pytest.mark.parametrize(
    "address",
    [
        "서울특별시 강남구 역삼로 210, 7층 702호",
        "경기도 성남시 분당구 판교로 100 101동 1203호",
        "서울 마포구 월드컵북로 12-3 B1",
        "12 Main Street, Unit 5",
    ],
)
def test_full_addresses_pass(address):
    report = run("NOT_RECEIVED", [tracking(), pod(address=address), messages()])
    assert hits(report, "delivery_proof_incomplete") == []


# --- tracking_number_reused ----------------------------------------------------------------------


@pytest.mark.parametrize("reason", REASONS)
def test_same_carrier_and_number_on_another_order_is_reuse(reason):
    other = [TrackingRef("CJ대한통운", "6512-3456-7890", "3000111122223")]
    report = run(reason, [*clean(reason), tracking("label")], other)
    found = {(f.evidence_id, f.params["other_orders"]) for f in hits(report, "tracking_number_reused")}
    ours = {i.evidence_id for i in clean(reason) if i.meta.get("tracking_number")}  # the clean CJ items reuse it too
    assert found == {(e, "3000111122223") for e in {"label", *ours}}


@pytest.mark.parametrize(
    "other",
    [
        TrackingRef("CJ", "651234567890", ORDER),  # the same order (a second dispute on it)
        TrackingRef("한진", "651234567890", "3000111122223"),  # the same number at another carrier
        TrackingRef("CJ", "651234567891", "3000111122223"),
    ],
)
def test_no_reuse_for_the_same_order_another_carrier_or_another_number(other):
    assert hits(run("NOT_RECEIVED", clean("NOT_RECEIVED"), [other]), "tracking_number_reused") == []


# --- order_mismatch / amount_mismatch ------------------------------------------------------------


@pytest.mark.parametrize("reason", REASONS)
def test_evidence_naming_another_order_is_a_mismatch(reason):
    report = run(reason, [*clean(reason), invoice("inv2", order_id="3000999999999")])
    assert [(f.evidence_id, f.params["order_id"]) for f in hits(report, "order_mismatch")] == [
        ("inv2", "3000999999999")
    ]


def test_order_id_written_with_spaces_or_dashes_matches():
    report = run("NOT_RECEIVED", [tracking(order_id="3000-9876-50001"), pod(order_id=" 3000987650001 "), messages()])
    assert hits(report, "order_mismatch") == []


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize(
    "amount", [{"value": "45000", "currency": "KRW"}, {"value": "32900", "currency": "CNY"}, "45,000원"]
)
def test_invoice_with_another_amount_or_currency_is_a_mismatch(reason, amount):
    report = run(reason, [*clean(reason), invoice("inv2", amount=amount)])
    assert [f.evidence_id for f in hits(report, "amount_mismatch")] == ["inv2"]


@pytest.mark.parametrize("amount", [{"value": "32900.00", "currency": "KRW"}, "32,900 KRW", "₩32,900", 32900, None])
def test_invoice_with_the_case_amount_is_no_mismatch(amount):
    assert (
        hits(run("DUPLICATE_CHARGE", [*clean("DUPLICATE_CHARGE")[1:], invoice(amount=amount)]), "amount_mismatch") == []
    )


# --- message_source_not_accepted -----------------------------------------------------------------


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize("source", ["wechat", "whatsapp", "kakaotalk", "email", "other", "", "line"])
def test_message_log_not_exported_from_coupang_is_not_accepted(reason, source):
    report = run(reason, [*clean(reason), messages("chat", source=source)])
    found = hits(report, "message_source_not_accepted")
    assert [(f.evidence_id, f.severity) for f in found] == [("chat", "blocker")]


# --- buyer_contacted_to_withdraw -----------------------------------------------------------------


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize(
    "text",
    [
        "분쟁을 취소해 주세요. 바로 재발송해 드리겠습니다.",
        "쿠팡 확인요청 철회 부탁드립니다",
        "麻烦您撤销投诉，我们马上补发",
        "请撤诉",
        "Could you please withdraw the dispute?",
        "Please cancel the chargeback and we will refund you.",
    ],
)
def test_seller_asking_buyer_to_withdraw_is_a_blocker(reason, text):
    log = messages("chat", ("buyer", "물건이 안 와요"), ("seller", text), sent_at="2026-11-02T12:00:00+09:00")
    report = run(reason, [*clean(reason), log])
    assert [(f.evidence_id, f.severity) for f in hits(report, "buyer_contacted_to_withdraw")] == [("chat", "blocker")]


def test_buyer_words_and_earlier_messages_are_not_a_withdrawal_request():
    log = messages("chat", ("buyer", "분쟁 취소할게요"), ("seller", "청약철회는 7일 이내 가능합니다"))
    early = messages("old", ("seller", "분쟁을 취소해 주세요"), sent_at="2026-10-01T10:00:00+09:00")
    assert hits(run("NOT_RECEIVED", [*clean("NOT_RECEIVED"), log, early]), "buyer_contacted_to_withdraw") == []


# --- timestamp_missing ---------------------------------------------------------------------------


@pytest.mark.parametrize("reason", REASONS)
def test_photo_or_screenshot_without_capture_time_and_timeless_messages(reason):
    bare = photo("bare", extracted=ExtractedFacts(width=10, height=10))
    shot = item("shot", "other", {}, media_type="image/png", extracted=ExtractedFacts(width=10, height=10))
    log = messages("chat", ("buyer", "hi"), sent_at=None)
    report = run(reason, [*clean(reason), bare, shot, log])
    found = {(f.evidence_id, f.fields) for f in hits(report, "timestamp_missing")}
    assert found == {("bare", ("captured_at",)), ("shot", ("captured_at",)), ("chat", ("messages",))}


def test_capture_time_from_meta_or_exif_satisfies_the_rule():
    meta_time = photo("p1", extracted=ExtractedFacts(width=10, height=10))
    meta_time = item("p1", "product_photo", {"captured_at": "2026-10-25T10:05:00+09:00"}, media_type="image/jpeg")
    assert hits(run("DAMAGED", [*clean("DAMAGED"), meta_time]), "timestamp_missing") == []


# --- timezone_missing ----------------------------------------------------------------------------


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize(
    "text",
    [
        "2026년 10월 28일 14시 22분에 배송완료되었습니다.",
        "2026年10月28日 14:22 已送达。",
        "北京时间 2026年10月28日 13:22 已送达。",
        "Delivered on 2026-10-28 14:22.",
    ],
)
def test_statement_times_without_kst_are_flagged(reason, text):
    report = run(reason, [*clean(reason), statement("st2", text), translation("st2", "2026-10-28 14:22 KST 배송완료")])
    found = hits(report, "timezone_missing")
    assert [(f.evidence_id, f.severity) for f in found] == [("st2", "blocker")]


def test_beijing_time_is_shown_converted_to_kst():
    report = run("OTHER", [statement("st", "2026-10-28 13:22 +08:00 배송완료")])
    assert hits(report, "timezone_missing")[0].params["times"] == "2026-10-28 13:22 +08:00 → 2026-10-28 14:22 KST"


@pytest.mark.parametrize(
    "text",
    [
        "2026-10-28 14:22 KST 배송완료",
        "2026-10-28T14:22:00+09:00 배송완료",
        "2026년 10월 28일 14시 22분(한국 시간) 배송완료",
        "10월 28일 배송완료",
    ],
)
def test_kst_times_and_plain_dates_pass(text):
    assert hits(run("OTHER", [statement("st", text)]), "timezone_missing") == []


def test_photo_exif_time_without_offset_is_a_zone_warning_not_a_guess():
    naive = photo("p", extracted=ExtractedFacts(width=10, height=10, exif_time=datetime(2026, 10, 25, 10, 5)))
    report = run("DAMAGED", [*clean("DAMAGED")[1:], naive])
    assert [(f.evidence_id, f.severity) for f in hits(report, "timezone_missing")] == [("p", "warning")]
    assert hits(report, "timestamp_missing") == []
    assert report.status == "ready"


# --- vague_statement -----------------------------------------------------------------------------


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize(
    "text",
    [
        "包裹应该已经送达了",
        "大概是10月28日送达",
        "아마 10월 28일에 배송된 것 같습니다",
        "It was probably delivered on 2026-10-28 14:22 KST.",
        "We believe it arrived",
    ],
)
def test_hedged_statement_is_vague(reason, text):
    report = run(reason, [*clean(reason), statement("st2", text), translation("st2", "2026-10-28 14:22 KST 배송완료")])
    assert [f.evidence_id for f in hits(report, "vague_statement")] == ["st2"]


@pytest.mark.parametrize(
    "text",
    [
        "包裹不可能丢失，已于2026-10-28 14:22 KST送达。",
        "아마존에서도 같은 상품을 판매합니다.",
        "사진에 사이즈 라벨 M이 보입니다.",
    ],
)
def test_words_that_only_contain_a_hedge_are_not_vague(text):
    report = run("OTHER", [statement("st", text), translation("st", "2026-10-28 14:22 KST 배송완료")])
    assert hits(report, "vague_statement") == []


def test_exact_statement_is_not_vague():
    text = (
        "The order was delivered at 2026-10-28 14:22 KST (CJ Logistics, 배송완료). The likelihood word list is exact."
    )
    report = run("OTHER", [statement("st", text), translation("st", "2026-10-28 14:22 KST 배송완료")])
    assert hits(report, "vague_statement") == []


# --- korean_translation_missing / translation_not_certified --------------------------------------


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize("text", ["包裹已于2026-10-28 14:22 KST送达。", "Delivered at 2026-10-28 14:22 KST."])
def test_chinese_or_english_text_without_korean_translation(reason, text):
    report = run(reason, [*clean(reason), statement("st2", text)])
    assert [f.evidence_id for f in hits(report, "korean_translation_missing")] == ["st2"]
    fixed = run(reason, [*clean(reason), statement("st2", text), translation("st2", "2026-10-28 14:22 KST 배송완료")])
    assert hits(fixed, "korean_translation_missing") == []


def test_a_chinese_message_log_needs_a_translation_too():
    log = messages("chat", ("buyer", "我还没收到"), ("seller", "已经送达了"))
    report = run("NOT_AS_DESCRIBED", [*clean("NOT_AS_DESCRIBED"), log])
    assert [f.evidence_id for f in hits(report, "korean_translation_missing")] == ["chat"]


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize("certified", [False, None, "no"])
def test_korean_translation_not_marked_certified_is_a_warning(reason, certified):
    items = [
        *clean(reason),
        statement("st2", "Delivered at 2026-10-28 14:22 KST."),
        translation("st2", "2026-10-28 14:22 KST 배송완료", certified=certified),
    ]
    report = run(reason, items)
    assert [(f.evidence_id, f.severity) for f in hits(report, "translation_not_certified")] == [("tr", "warning")]
    assert report.status == "ready"
    assert (
        hits(
            run(reason, [*items[:-1], translation("st2", "2026-10-28 14:22 KST 배송완료")]), "translation_not_certified"
        )
        == []
    )


# --- glossary_mismatch ---------------------------------------------------------------------------


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("상품은 풀필먼트 센터에서 출고되었습니다.", "풀필먼트 센터"),
        ("트래킹넘버 651234567890로 조회됩니다.", "트래킹 넘버"),
        ("택배 단번호는 651234567890입니다.", "택배 단번호"),
    ],
)
def test_literal_korean_rendering_is_a_glossary_warning(reason, text, literal):
    report = run(reason, [*clean(reason), statement("st2", text)])
    found = hits(report, "glossary_mismatch")
    assert [(f.evidence_id, f.params["literal"], f.severity) for f in found] == [("st2", literal, "warning")]


def test_standard_terms_pass_the_glossary():
    report = run("OTHER", [statement("st", "상품은 물류센터에서 출고되었고 운송장 번호로 조회됩니다.")])
    assert hits(report, "glossary_mismatch") == []


# --- buyer_confirmation_missing ------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["NOT_RECEIVED", "CREDIT_NOT_PROCESSED", "DUPLICATE_CHARGE"])
@pytest.mark.parametrize(
    "rows",
    [
        (("buyer", "상품을 아직 못 받았어요"),),
        (("buyer", "我还没收到"),),
        (("seller", "잘 받았습니다"),),
        (("buyer", "I have not received it yet"),),
    ],
)
def test_no_buyer_confirmation_is_a_warning(reason, rows):
    items = [i for i in clean(reason) if i.kind != "message_log"] + [messages("msg", *rows)]
    report = run(reason, items)
    assert [(f.evidence_id, f.severity) for f in hits(report, "buyer_confirmation_missing")] == [("msg", "warning")]
    assert report.blockers == () or {f.rule for f in report.blockers} == {"korean_translation_missing"}


@pytest.mark.parametrize(
    "text", ["잘 받았습니다", "환불 필요 없습니다", "收到了，谢谢", "不用退款了", "I received it, thanks"]
)
def test_buyer_confirming_receipt_or_waiving_the_refund_passes(text):
    items = [tracking(), pod(), messages("msg", ("buyer", text))]
    assert hits(run("NOT_RECEIVED", items), "buyer_confirmation_missing") == []


@pytest.mark.parametrize("reason", ["NOT_AS_DESCRIBED", "DAMAGED", "UNAUTHORIZED", "OTHER"])
def test_confirmation_is_not_asked_for_other_reasons(reason):
    assert (
        hits(run(reason, [*clean(reason), messages("m2", ("buyer", "아직 못 받았어요"))]), "buyer_confirmation_missing")
        == []
    )


# --- file_unreadable -----------------------------------------------------------------------------


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize("why", ["encrypted", "truncated", "corrupt", "too_large"])
def test_unreadable_file_is_a_blocker(reason, why):
    bad = item(
        "bad",
        "other",
        {},
        media_type="application/pdf",
        extracted=ExtractedFacts(readable=False, unreadable_reason=why),
    )
    report = run(reason, [*clean(reason), bad])
    assert [(f.evidence_id, f.params["reason"]) for f in hits(report, "file_unreadable")] == [("bad", why)]


def test_a_hundred_thousand_messages_is_unreadable_not_a_crash():
    log = messages("huge", *([("buyer", "잘 받았습니다")] * 100_000))
    report = run("NOT_RECEIVED", [tracking(), pod(), log])
    assert [(f.evidence_id, f.params["reason"]) for f in hits(report, "file_unreadable")] == [
        ("huge", "too_many_messages")
    ]


# --- robustness and order ------------------------------------------------------------------------


def test_malformed_meta_never_raises():
    junk = [
        item("a", "message_log", {"messages": "nope", "source": 5}),
        item("b", "message_log", {"messages": [1, None, {"sent_at": 7, "text": None, "sender": []}]}),
        item("c", "tracking_record", {"carrier": ["CJ"], "tracking_number": {"x": 1}, "events": "x", "status": 3}),
        item("d", "proof_of_delivery", {"delivered_at": 12, "address": ["x"], "recipient_name": 0}),
        item("e", "invoice", {"amount": {"value": [1]}, "order_id": True}),
        item("f", "statement", {"text": 123}),
        item("g", "translation", {"of_evidence_id": None, "certified": {}}),
    ]
    for reason in REASONS:
        report = run(reason, junk)
        assert report.status == "needs_fix"


def test_findings_come_blockers_first_in_rule_order():
    items = [tracking(carrier="淘宝", status="shipped"), messages("msg", ("buyer", "아직"))]
    report = run("NOT_RECEIVED", items)
    severities = [f.severity for f in report.findings]
    assert severities == sorted(severities, key=lambda s: s != "blocker")
    order = load_ruleset().rule_ids
    blockers = [order.index(f.rule) for f in report.findings if f.severity == "blocker"]
    assert blockers == sorted(blockers)
    assert report.findings[-1].rule == "buyer_confirmation_missing"


def test_tracking_key_and_refs_feed_the_reuse_index():
    assert tracking_key(load_ruleset(), "CJ대한통운", "6512-3456 7890") == ("cj", "651234567890")
    assert tracking_key(load_ruleset(), "CJ Logistics", "651234567890") == ("cj", "651234567890")
    refs = tracking_refs(case(), [tracking(), pod(), messages()])
    assert {(r.carrier, r.tracking_number, r.order_id) for r in refs} == {("CJ", "651234567890", ORDER)}


def test_now_must_be_aware():
    with pytest.raises(ValueError):
        check(case(), [], (), now=datetime(2026, 11, 3))
