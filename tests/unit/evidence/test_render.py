"""Reports in zh / ko / en, templates that pass the checker, legal basis per reason code."""

from __future__ import annotations

import re

import pytest

from services.evidence.checker import (
    Finding,
    Report,
    UnknownReasonCode,
    UnsupportedLanguage,
    check,
    legal_basis,
    load_ruleset,
    render,
    statement_templates,
)
from tests.unit.evidence.packages import NOW, REASONS, case, clean, statement, translation

LANGS = ("zh", "ko", "en")
# Every placeholder a rule's text may use, with a value, to prove no text is left with a raw {name}.
PARAMS = {
    "reason": "encrypted",
    "kind": "invoice",
    "carrier": "淘宝",
    "status": "in_transit",
    "tracking_number": "1",
    "other_orders": "2",
    "order_id": "3",
    "case_order_id": "4",
    "amount": "5 KRW",
    "case_amount": "6 KRW",
    "source": "wechat",
    "quote": "q",
    "sent_at": "t",
    "subject": "photo",
    "count": "1",
    "times": "14:22",
    "words": "大概",
    "language": "zh",
    "literal": "풀필먼트 센터",
    "standard": "물류센터",
}


def report_of(*findings: Finding) -> Report:
    return Report("needs_fix", load_ruleset().version, findings, (), "NOT_RECEIVED", NOW, ())


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("rule", load_ruleset().rule_ids)
def test_every_rule_has_message_and_fix_in_every_language(rule, lang):
    [out] = render(report_of(Finding(rule, "blocker", "e1", ("recipient_name", "address"), PARAMS)), lang)
    assert out["rule"] == rule and out["evidence_id"] == "e1" and out["fields"] == ["recipient_name", "address"]
    for text in (out["message"], out["fix"]):
        assert text.strip() and not re.search(r"\{\w+\}", text), text
    if lang == "zh":
        assert re.search(r"[\u4e00-\u9fff]", out["message"])
    if lang == "ko":
        assert re.search(r"[\uac00-\ud7a3]", out["message"])


def test_params_are_shown_in_the_readers_terms():
    finding = Finding("required_evidence_missing", "blocker", None, ("kind",), {"kind": "proof_of_delivery"})
    messages = {lang: render(report_of(finding), lang)[0]["message"] for lang in LANGS}
    assert "签收证明" in messages["zh"] and "배송 완료 증빙" in messages["ko"] and "proof of delivery" in messages["en"]
    [pod] = render(report_of(Finding("delivery_proof_incomplete", "blocker", "p", ("address",), {})), "ko")
    assert "건물번호" in pod["message"]


def test_unknown_language_is_refused():
    with pytest.raises(UnsupportedLanguage) as err:
        render(report_of(), "ja")
    assert err.value.code == "unsupported_language"


@pytest.mark.parametrize("lang", LANGS)
def test_a_real_report_renders_in_all_three_languages(lang):
    report = check(
        case("NOT_RECEIVED"), [statement("st", "包裹应该送达了 14:22"), translation("x", "번역")], (), now=NOW
    )
    rendered = render(report, lang)
    assert [r["rule"] for r in rendered] == [f.rule for f in report.findings]
    assert len({r["message"] for r in rendered}) == len(rendered) or len(rendered) > 1


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize("lang", LANGS)
def test_statement_templates_pass_the_checker(reason, lang):
    answer = statement_templates(reason, lang)
    [template] = answer["templates"]
    assert "KST" in template["text"] and "KST" in template["example"]
    items = [*clean(reason), statement("tpl", template["example"])]
    if lang != "ko":  # a Chinese or English statement goes in with its Korean template as the certified translation
        items.append(translation("tpl", statement_templates(reason, "ko")["templates"][0]["example"], "tpl-ko"))
    report = check(case(reason), items, (), now=NOW)
    assert report.findings == (), report.findings
    assert answer["ruleset_version"] == load_ruleset().version


def test_templates_refuse_unknown_reason_or_language():
    with pytest.raises(UnknownReasonCode):
        statement_templates("NOPE", "ko")
    with pytest.raises(UnsupportedLanguage):
        statement_templates("NOT_RECEIVED", "fr")


@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize("lang", LANGS)
def test_every_reason_code_names_its_legal_basis(reason, lang):
    basis = legal_basis(reason, lang)
    assert basis and all(b["article"].startswith("제") and b["title"] and b["summary"] for b in basis)
    assert check(case(reason), clean(reason), (), now=NOW).legal_basis == tuple(b["id"] for b in basis)
