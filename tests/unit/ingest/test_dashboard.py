"""The dashboard's pure parts: every string in three languages, the countdown text, flagged fields,
autoescaping, the CSRF token and the same-origin rule."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from starlette.requests import Request

from services.ingest.dashboard import i18n, remote, session, views
from shared.web.auth import mint_token

SECRET = "a-test-auth-secret-that-is-long-enough-0123"


def test_every_string_exists_in_chinese_korean_and_english_with_the_same_placeholders():
    zh, ko, en = (i18n.STRINGS[lang] for lang in i18n.LANGUAGES)
    assert set(zh) == set(ko) == set(en)
    for key in zh:
        names = {lang: set(re.findall(r"{(\w+)}", i18n.STRINGS[lang][key])) for lang in i18n.LANGUAGES}
        assert names["zh"] == names["ko"] == names["en"], key
        assert all(i18n.STRINGS[lang][key].strip() for lang in i18n.LANGUAGES), key


def test_every_status_reason_and_kind_the_page_shows_has_a_label():
    for status in views.CASE_STATUSES:
        assert f"status.{status}" in i18n.STRINGS["zh"]
    for reason in views.REASON_CODES:
        assert f"reason.{reason}" in i18n.STRINGS["zh"]


def test_chinese_is_the_default_and_an_unknown_language_reads_as_chinese():
    assert i18n.language_of(None) == i18n.language_of("fr") == i18n.language_of("") == "zh"
    assert i18n.language_of("ko") == "ko"
    assert i18n.text("xx", "nav.cases") == "案件"
    assert i18n.text("en", "problem.some_new_code") == "some_new_code"  # a code the table does not know yet


@pytest.mark.parametrize(
    ("seconds", "lang", "shown"),
    [
        (3 * 86400 + 3661, "zh", "3天 01:01:01"),
        (86399, "en", "23:59:59"),
        (86400, "ko", "1일 00:00:00"),
        (-1, "zh", "已逾期"),
    ],
)
def test_the_countdown_text(seconds: int, lang: str, shown: str):
    assert views.countdown(seconds, lang) == shown


def test_times_are_shown_in_kst_and_beijing_and_given_to_the_script_in_utc():
    moment = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)
    assert views.wall(moment, views.KST) == "2026-12-04 00:30"
    assert views.wall(moment, views.BEIJING) == "2026-12-03 23:30"
    assert views.iso_utc(moment) == "2026-12-03T15:30:00Z"


def _item(evidence_id: str, **meta) -> remote.EvidenceItem:
    return remote.EvidenceItem(
        evidence_id=evidence_id, kind="tracking_record", meta=meta, uploaded_at=datetime.now(UTC)
    )


def test_the_fields_a_finding_names_for_an_item_are_flagged_and_missing_ones_shown():
    items = [_item("e1", kind="tracking_record", carrier="淘宝", tracking_number="1"), _item("e2", carrier="CJ")]
    findings = [
        remote.Finding(
            rule="carrier_not_accepted", severity="blocker", evidence_id="e1", fields=["carrier"], message="m", fix="f"
        ),
        remote.Finding(
            rule="delivery_proof_incomplete",
            severity="blocker",
            evidence_id="e1",
            fields=["delivered_at"],
            message="m",
            fix="f",
        ),
        remote.Finding(
            rule="required_evidence_missing",
            severity="blocker",
            evidence_id=None,
            fields=["kind"],
            message="m",
            fix="f",
        ),
    ]
    first, second = views.evidence_views(items, findings)
    assert [(f.name, f.flagged, f.missing) for f in first.fields] == [
        ("carrier", True, False),
        ("tracking_number", False, False),
        ("delivered_at", True, True),
    ]
    assert first.flagged and not second.flagged


def test_templates_escape_what_buyers_and_sellers_wrote():
    rendered = views.ENV.from_string("<p>{{ text }}</p>").render(text="<script>alert(1)</script>")
    assert rendered == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert views.ENV.get_template("base.html").environment.autoescape is not False


def test_the_csrf_token_belongs_to_one_session():
    a = session.verify(SECRET, mint_token(SECRET, "seller", "V1"))
    b = session.verify(SECRET, mint_token(SECRET, "seller", "V1", ttl=timedelta(hours=2)))
    assert session.csrf_ok(a, a.csrf) and not session.csrf_ok(a, b.csrf) and not session.csrf_ok(a, None)
    assert a.csrf == session.csrf_token(SECRET, a.token) != session.csrf_token("another-secret-" * 3, a.token)


def test_a_forged_or_expired_token_is_no_session():
    with pytest.raises(session.SignedOut) as forged:
        session.verify(SECRET, mint_token("x" * 40, "seller", "V1"))
    assert forged.value.reason == "signin.invalid"
    old = datetime.now(UTC) - timedelta(hours=3)
    with pytest.raises(session.SignedOut) as expired:
        session.verify(SECRET, mint_token(SECRET, "seller", "V1", ttl=timedelta(hours=1), now=old))
    assert expired.value.reason == "signin.expired"


def _request(**headers: str) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in {"host": "127.0.0.1:8001", **headers}.items()]
    return Request({"type": "http", "method": "POST", "scheme": "http", "path": "/dashboard/sign-in", "headers": raw})


@pytest.mark.parametrize(
    ("headers", "same"),
    [
        ({"origin": "http://127.0.0.1:8001"}, True),
        ({"origin": "http://127.0.0.1:8002"}, False),
        ({"origin": "https://127.0.0.1:8001"}, False),
        ({"origin": "null"}, False),
        ({"referer": "http://127.0.0.1:8001/dashboard/cases/X"}, True),
        ({"referer": "http://evil.example/dashboard"}, False),
        ({"origin": "http://evil.example", "referer": "http://127.0.0.1:8001/dashboard"}, False),
        ({}, False),
    ],
)
def test_a_post_must_come_from_this_origin(headers: dict[str, str], same: bool):
    assert session.same_origin(_request(**headers)) is same
