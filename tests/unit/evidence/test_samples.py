"""The shared samples through the checker (../shared/samples, else tests/fixtures/samples)."""

from __future__ import annotations

from services.evidence.checker import EvidenceItem, check, render_report
from shared.contracts import DisputeKind, EvidenceKind, ReasonCode
from tests.unit.evidence.packages import NOW, case, sample, samples_dir


def clean_not_received():
    return [sample("tracking_cj_delivered"), sample("pod_complete"), sample("messages_coupang")]


def test_samples_are_found():
    assert (samples_dir() / "evidence_pod_complete.json").is_file()


def test_clean_not_received_package_is_ready_with_no_blocker():
    report = check(case("NOT_RECEIVED"), clean_not_received(), (), now=NOW)
    assert report.status == "ready"
    assert report.blockers == ()
    assert report.findings == ()
    assert [(e.evidence_id, e.kind) for e in report.evidence_set] == [
        ("tracking_cj_delivered", "tracking_record"),
        ("pod_complete", "proof_of_delivery"),
        ("messages_coupang", "message_log"),
    ]


def test_vague_chinese_statement_is_vague_and_untranslated():
    report = check(case("NOT_RECEIVED"), [*clean_not_received(), sample("statement_zh_vague")], (), now=NOW)
    assert {(f.rule, f.evidence_id) for f in report.findings} == {
        ("vague_statement", "statement_zh_vague"),
        ("korean_translation_missing", "statement_zh_vague"),
    }
    assert report.status == "needs_fix"


def test_sample_report_in_all_three_languages():
    report = check(case("NOT_RECEIVED"), [*clean_not_received(), sample("statement_zh_vague")], (), now=NOW)
    for lang, word in (("zh", "韩文译文"), ("ko", "한국어 번역본"), ("en", "Korean translation")):
        rendered = render_report(report, lang)
        assert rendered["ruleset_version"] == report.ruleset_version
        assert [f["rule"] for f in rendered["findings"]] == ["vague_statement", "korean_translation_missing"]
        assert word in rendered["findings"][1]["message"]
        assert [b["article"] for b in rendered["legal_basis"]] == ["제15조 제1항", "제17조 제5항"]


def test_contract_enums_work_as_well_as_plain_strings():
    items = [EvidenceItem(i.evidence_id, EvidenceKind(i.kind), i.meta) for i in clean_not_received()]
    report = check(case(ReasonCode.NOT_RECEIVED, kind=DisputeKind.platform_dispute), items[:1], (), now=NOW)
    found = [(f.rule, f.params.get("kind")) for f in report.findings]
    assert found == [("required_evidence_missing", "proof_of_delivery"), ("buyer_confirmation_missing", None)]
    assert check(case(ReasonCode.NOT_RECEIVED), items, (), now=NOW).status == "ready"
