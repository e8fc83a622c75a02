"""The seller's default language (issue 15 item 6, SPEC section 4 seller rules), evidence side:
`dispute.received` carries it, and it is the default `lang` of that case's report and check and
of the seller's templates; `?lang=` still wins; with no language known, zh as before."""

from __future__ import annotations

import uuid

from tests.integration.evidence.conftest import Evidence, sample
from tests.integration.evidence.test_bad_input import refused

VAGUE = "statement_zh_vague"  # findings vague_statement and korean_translation_missing
WORDS = {"zh": "韩文译文", "ko": "한국어 번역본", "en": "Korean translation"}


def translation_message(body: dict) -> str:
    return next(f["message"] for f in body["findings"] if f["rule"] == "korean_translation_missing")


async def checked_case(evidence: Evidence, language: str | None) -> tuple[str, str]:
    seller, dispute = await evidence.new_case(language=language)
    assert (await evidence.upload(dispute, seller, sample(VAGUE), as_json=True)).status_code == 201
    return seller, dispute


async def test_the_report_and_check_default_to_the_cases_language_and_lang_still_wins(evidence: Evidence):
    seller, dispute = await checked_case(evidence, "ko")
    headers = evidence.seller_headers(seller)
    check = await evidence.client.post(f"/v1/cases/{dispute}/evidence/check", headers=headers)
    assert check.status_code == 200 and check.json()["lang"] == "ko"
    assert WORDS["ko"] in translation_message(check.json())
    report = await evidence.client.get(f"/v1/cases/{dispute}/report", headers=headers)
    assert report.json()["lang"] == "ko" and WORDS["ko"] in translation_message(report.json())
    asked = await evidence.client.get(f"/v1/cases/{dispute}/report?lang=en", headers=headers)
    assert asked.json()["lang"] == "en" and WORDS["en"] in translation_message(asked.json())
    operator = await evidence.client.get(f"/v1/cases/{dispute}/report", headers=evidence.operator_headers())
    assert operator.json()["lang"] == "ko"  # the case's language, whoever reads it


async def test_a_case_with_no_language_reads_in_chinese(evidence: Evidence):
    seller, dispute = await checked_case(evidence, None)
    check = await evidence.client.post(f"/v1/cases/{dispute}/evidence/check", headers=evidence.seller_headers(seller))
    assert check.json()["lang"] == "zh" and WORDS["zh"] in translation_message(check.json())


async def test_an_unknown_lang_is_still_422_whatever_the_cases_language(evidence: Evidence):
    seller, dispute = await checked_case(evidence, "en")
    headers = evidence.seller_headers(seller)
    await evidence.client.post(f"/v1/cases/{dispute}/evidence/check", headers=headers)
    for lang in ("fr", "", "KO"):
        refused(
            await evidence.client.get(f"/v1/cases/{dispute}/report?lang={lang}", headers=headers),
            422,
            "unsupported_language",
        )
        refused(
            await evidence.client.post(f"/v1/cases/{dispute}/evidence/check?lang={lang}", headers=headers),
            422,
            "unsupported_language",
        )
    refused(
        await evidence.client.get("/v1/templates?reason_code=NOT_RECEIVED&lang=fr", headers=headers),
        422,
        "unsupported_language",
    )
    too_long = await evidence.client.get(f"/v1/cases/{dispute}/report?lang={'x' * 20}", headers=headers)
    refused(too_long, 422, "validation_error")


async def test_templates_default_to_the_language_of_the_sellers_latest_dispute(evidence: Evidence):
    seller = f"V{uuid.uuid4().hex[:8].upper()}"
    url = "/v1/templates?reason_code=NOT_RECEIVED"
    headers = evidence.seller_headers(seller)
    assert (await evidence.client.get(url, headers=headers)).json()["lang"] == "zh"  # no dispute yet
    await evidence.new_case(seller, language="ko")
    assert (await evidence.client.get(url, headers=headers)).json()["lang"] == "ko"
    await evidence.new_case(seller, language="en")  # the seller changed the default since
    assert (await evidence.client.get(url, headers=headers)).json()["lang"] == "en"
    await evidence.new_case(seller)  # a dispute that carried none: the last known one stays
    assert (await evidence.client.get(url, headers=headers)).json()["lang"] == "en"
    assert (await evidence.client.get(url + "&lang=zh", headers=headers)).json()["lang"] == "zh"
    other = await evidence.client.get(url, headers=evidence.seller_headers(f"V{uuid.uuid4().hex[:8].upper()}"))
    assert other.json()["lang"] == "zh"  # another seller's language is not yours
    assert (await evidence.client.get(url, headers=evidence.operator_headers())).json()["lang"] == "zh"
