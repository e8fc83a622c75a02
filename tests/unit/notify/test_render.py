"""Rendering: every consumed event in zh, ko and en with the right facts; escaping; strict variables."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import jinja2
import pytest

from services.notify import errors
from services.notify.render import LANGUAGES, CaseFacts, Formatter, Money, Renderer, money
from shared.contracts.events import (
    CaseSubmittedV1,
    DeadlineAlertedV1,
    DeadlineScheduledV1,
    DisputeReceivedV1,
    DisputeUpdatedV1,
    EvidenceValidatedV1,
    VerdictReturnedV1,
)
from shared.contracts.events import Money as EventMoney

NOW = datetime(2026, 11, 8, 15, 59, tzinfo=UTC)
DUE = datetime(2026, 11, 9, 14, 59, tzinfo=UTC)  # 23:59 KST, 22:59 Beijing, 23 h from NOW
CASE = CaseFacts(
    dispute_id="D-2026-0001",
    order_id="O-778899",
    amount=Money("125000", "KRW"),
    reason_code="NOT_RECEIVED",
    reason_text="상품 미수령",
    due_at=DUE,
)
renderer = Renderer("https://desk.example.com/")
URL = "https://desk.example.com/dashboard/cases/D-2026-0001"
BEIJING_WORD = {"zh": "22:59 北京时间", "ko": "베이징 시간 22:59", "en": "22:59 Beijing time"}
LEFT = {"zh": "还剩 23 小时", "ko": "23시간 남음", "en": "23 hours left"}
REASON = {"zh": "未收到商品", "ko": "상품 미수령", "en": "Item not received"}

EVENTS = {
    "dispute.received": DisputeReceivedV1(
        dispute_id="D-2026-0001",
        seller_id="S1",
        notice_id="N1",
        kind="chargeback",
        order_id="O-778899",
        amount=EventMoney(value="125000", currency="KRW"),
        reason_code="NOT_RECEIVED",
        reason_text="상품 미수령",
        notified_at=NOW,
    ),
    "dispute.updated": DisputeUpdatedV1(dispute_id="D-2026-0001", seller_id="S1", change="updated", respond_by=DUE),
    "deadline.scheduled": DeadlineScheduledV1(dispute_id="D-2026-0001", due_at=DUE, business_days=7, rule="computed"),
    "evidence.validated": EvidenceValidatedV1(
        dispute_id="D-2026-0001",
        report_id=uuid.uuid4(),
        status="needs_fix",
        ruleset_version="2026.1",
        findings=[{"rule": "pod_missing", "severity": "blocker"}, {"rule": "photo_blurry", "severity": "warning"}],
    ),
    "deadline.alerted": DeadlineAlertedV1(dispute_id="D-2026-0001", alert="reminder", due_at=DUE, hours_left=23.0),
    "case.submitted": CaseSubmittedV1(
        dispute_id="D-2026-0001", receipt_id="R-42", adapter="http", submitted_at=NOW, package_sha256="a" * 64
    ),
    "verdict.returned": VerdictReturnedV1(
        dispute_id="D-2026-0001",
        outcome="won",
        amount=EventMoney(value="125000", currency="KRW"),
        summary_zh="卖家提供了签收证明",
        suggestions=("保留签收照片",),
    ),
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_every_event_renders_in_every_language_with_its_facts(event_type, language):
    message = renderer.render(event_type, EVENTS[event_type], CASE, language=language, now=NOW)
    for body in (message.text, message.html, message.markdown):
        assert "D-2026-0001" in body and "O-778899" in body and "KRW 125,000" in body
        assert "2026-11-09 23:59 KST / " + BEIJING_WORD[language] in body
        assert LEFT[language] in body
        assert REASON[language] in body
    assert message.url == URL and URL in message.text and f'href="{URL}"' in message.html
    assert message.title and "\n" not in message.title and "O-778899" in message.title
    assert {"zh": "下一步", "ko": "다음 할 일", "en": "Next"}[language] in message.text
    assert message.facts["order_id"] == "O-778899"


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_reason_stands_beside_the_korean_original(language):
    text = renderer.render("dispute.received", EVENTS["dispute.received"], CASE, language=language, now=NOW).text
    assert REASON[language] in text and "상품 미수령" in text


def test_a_korean_seller_reads_the_reason_once():
    text = renderer.render("dispute.received", EVENTS["dispute.received"], CASE, language="ko", now=NOW).text
    assert text.count("상품 미수령") == 1


def test_event_specific_facts():
    def text(event_type: str, data, language="en"):
        return renderer.render(event_type, data, CASE, language=language, now=NOW).text

    assert "1 to fix, 1 suggested" in text("evidence.validated", EVENTS["evidence.validated"])
    assert "R-42" in text("case.submitted", EVENTS["case.submitted"])
    assert "won by the seller" in text("verdict.returned", EVENTS["verdict.returned"])
    assert "卖家胜诉" in text("verdict.returned", EVENTS["verdict.returned"], "zh")
    assert "7 business days" in text("deadline.scheduled", EVENTS["deadline.scheduled"])
    missed = DeadlineAlertedV1(dispute_id="D-2026-0001", alert="missed", due_at=NOW - timedelta(hours=2), hours_left=0)
    assert "已超时 2 小时" in text("deadline.alerted", missed, "zh")
    closed = DisputeUpdatedV1(dispute_id="D-2026-0001", seller_id="S1", change="closed", outcome="lost")
    assert "구매자 승소" in text("dispute.updated", closed, "ko")


def test_a_new_dispute_without_its_deadline_says_so():
    case = CaseFacts(dispute_id="D-1", order_id="O-1", amount=Money("5000", "KRW"), reason_code="DAMAGED")
    message = renderer.render("dispute.received", EVENTS["dispute.received"], case, language="zh", now=NOW)
    assert "尚未确定" in message.text and "KST" not in message.text


def test_a_script_in_the_reason_is_escaped_in_html_and_markdown():
    case = CaseFacts(
        dispute_id="D-1", order_id="O-1", reason_code="OTHER", reason_text="<script>alert(1)</script> [x](https://evil)"
    )
    message = renderer.render("dispute.received", EVENTS["dispute.received"], case, language="zh", now=NOW)
    assert "<script>" not in message.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert "<script>" in message.text  # the plain part is plain text
    assert "\\<script\\>" in message.markdown and "\\[x\\](https://evil)" in message.markdown
    assert "https://desk.example.com/dashboard/cases/D-1" in message.markdown  # our own link untouched


def test_a_missing_template_variable_raises(tmp_path, monkeypatch):
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "dispute.received.j2").write_text(
        "{% block title %}{{ order_id }}{% endblock %}{% block text %}{{ no_such_fact }}{% endblock %}"
        "{% block html %}x{% endblock %}"
    )
    strict = Renderer("https://desk.example.com")
    for env in (strict._text, strict._html, strict._markdown):
        env.loader = jinja2.FileSystemLoader(tmp_path)
    with pytest.raises(errors.TemplateVariableMissing):
        strict.render("dispute.received", {}, CASE, language="zh", now=NOW)
    with pytest.raises(errors.TemplateVariableMissing):
        renderer.render("evidence.validated", {"status": "ready"}, CASE, language="zh", now=NOW)  # no findings


def test_the_digest_lists_every_small_dispute_in_one_message():
    cases = [
        CaseFacts(
            dispute_id=f"D-{n}", order_id=f"O-{n}", amount=Money("3000", "KRW"), reason_code="DAMAGED", due_at=DUE
        )
        for n in range(3)
    ]
    for language in LANGUAGES:
        message = renderer.render_digest(cases, language=language, now=NOW, day=date(2026, 11, 8))
        assert all(f"O-{n}" in message.text and f"/dashboard/cases/D-{n}" in message.html for n in range(3))
        assert "3" in message.title and "2026-11-08" in message.title
    assert renderer.render_digest(cases, language="zh", now=NOW, day=date(2026, 11, 8)).facts["dispute_ids"] == [
        "D-0",
        "D-1",
        "D-2",
    ]


def test_times_show_beijings_date_when_it_is_another_day():
    just_after_midnight_kst = datetime(2026, 11, 9, 15, 30, tzinfo=UTC)  # 00:30 KST on the 10th
    assert Formatter("zh", NOW).when(just_after_midnight_kst) == "2026-11-10 00:30 KST / 11-09 23:30 北京时间"


@pytest.mark.parametrize(
    ("left", "zh", "ko", "en"),
    [
        (timedelta(hours=23, minutes=59), "还剩 23 小时", "23시간 남음", "23 hours left"),
        (timedelta(hours=1), "还剩 1 小时", "1시간 남음", "1 hour left"),
        (timedelta(minutes=45), "还剩 45 分钟", "45분 남음", "45 minutes left"),
        (timedelta(hours=47), "还剩 47 小时", "47시간 남음", "47 hours left"),
        (timedelta(days=3, hours=4), "还剩 3 天 4 小时", "3일 4시간 남음", "3 days 4 hours left"),
        (-timedelta(hours=5), "已超时 5 小时", "5시간 지남", "5 hours overdue"),
    ],
)
def test_countdowns(left, zh, ko, en):
    assert [Formatter(lang, NOW).left(NOW + left) for lang in ("zh", "ko", "en")] == [zh, ko, en]


def test_amounts_per_currency():
    assert money(Money("1234567", "KRW")) == "KRW 1,234,567"
    assert money(Money("1234.5", "KRW")) == "KRW 1,235"
    assert money(Money("1234.5", "CNY")) == "CNY 1,234.50"
    assert money(Money("0.005", "USD")) == "USD 0.01"


def test_the_case_link_quotes_the_dispute_id():
    assert Renderer("https://d.example/").case_url("a/b c") == "https://d.example/dashboard/cases/a%2Fb%20c"
