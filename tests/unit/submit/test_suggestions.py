"""Verdict advice: the Chinese summary and suggestions from findings and outcome; a table covering the checker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.submit import suggestions
from shared.contracts.events import Finding, Money

CHECKER_RULESET = Path(__file__).parents[3] / "services/evidence/checker/ruleset/ruleset.json"


def f(rule: str, severity: str = "blocker") -> Finding:
    return Finding(rule=rule, severity=severity)


def test_every_checker_rule_and_reason_code_has_a_suggestion_in_every_language():
    ruleset = json.loads(CHECKER_RULESET.read_text())
    table = suggestions.table()
    assert {r["id"] for r in ruleset["rules"]} == set(table["by_rule"])
    assert set(ruleset["required_kinds"]) == set(table["by_reason"])
    rows = [*table["by_rule"].values(), *(row for rows in table["by_reason"].values() for row in rows)]
    assert all(set(row) == {"zh", "ko", "en"} and all(row.values()) for row in rows)


def test_a_lost_delivery_case_asks_for_a_photo_proof_of_delivery_once():
    advice = suggestions.advise(
        "lost", dispute_id="D-1", reason_code="NOT_RECEIVED", findings=(f("delivery_proof_incomplete", "warning"),)
    )
    assert advice.suggestions == ("向承运商索取带照片的签收证明",)  # the rule's and the reason's text, once


def test_a_lost_not_as_described_case_with_a_clean_report_learns_from_its_reason_code():
    advice = suggestions.advise("lost", dispute_id="D-1", reason_code="NOT_AS_DESCRIBED")
    assert advice.suggestions == ("在商品页用韩文标注尺寸", "为该 SKU 增加开箱视频存档")


def test_blockers_come_before_warnings_and_unknown_rules_are_skipped():
    findings = (f("glossary_mismatch", "warning"), f("a_rule_from_the_future"), f("timezone_missing"))
    advice = suggestions.advise("partial", dispute_id="D-1", reason_code="OTHER", findings=findings)
    assert advice.suggestions[0].startswith("时间请注明时区")
    assert advice.suggestions[1].startswith("商品名和术语")
    assert advice.suggestions[2].startswith("陈述中写明")


def test_a_won_case_keeps_its_warnings_or_is_told_to_keep_its_records():
    kept = suggestions.advise("won", dispute_id="D-1", reason_code="DAMAGED")
    assert kept.suggestions == (suggestions.table()["won_keep"]["zh"],)
    warned = suggestions.advise(
        "won", dispute_id="D-1", reason_code="DAMAGED", findings=(f("translation_not_certified", "warning"),)
    )
    assert warned.suggestions == (suggestions.table()["by_rule"]["translation_not_certified"]["zh"],)


def test_the_summary_says_outcome_amount_and_clause_in_chinese():
    advice = suggestions.advise(
        "won",
        dispute_id="D-9",
        reason_code="NOT_RECEIVED",
        amount=Money(value="39000", currency="KRW"),
        policy_clause="쿠팡 판매자 이용약관 제21조",
    )
    assert advice.summary == "争议 D-9 胜诉：平台支持卖家，金额 39000 KRW。依据条款：쿠팡 판매자 이용약관 제21조。"
    assert suggestions.advise("lost", dispute_id="D-9", reason_code="OTHER").summary == "争议 D-9 败诉。"


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_other_languages_come_from_the_same_table(lang):
    advice = suggestions.advise("partial", dispute_id="D-1", reason_code="DAMAGED", lang=lang)
    assert advice.suggestions[0] == suggestions.table()["by_reason"]["DAMAGED"][0][lang]
    assert "D-1" in advice.summary


def test_there_are_never_more_than_the_maximum():
    findings = tuple(f(rule) for rule in suggestions.table()["by_rule"])
    advice = suggestions.advise("lost", dispute_id="D-1", reason_code="DAMAGED", findings=findings)
    assert len(advice.suggestions) == suggestions.MAX_SUGGESTIONS
