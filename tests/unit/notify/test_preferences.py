"""The preference document: stable refusals, secrets kept and masked, digest and quiet-hour rules."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from services.notify import errors
from services.notify.preferences import (
    carry_secrets,
    goes_to_digest,
    masked,
    parse_preferences,
    quiet_until,
    release_at,
    wants,
)
from services.notify.schemas import MoneyIn

WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()
DING = "SEC" + "a1" * 32
SPEC_EXAMPLE = {
    "language": "zh",
    "events": ["dispute.received", "evidence.validated", "deadline.alerted", "case.submitted", "verdict.returned"],
    "min_amount": {"value": "10000", "currency": "KRW"},
    "channels": [
        {"type": "webhook", "url": "https://erp.example.com/hooks/disputes", "secret": WHSEC},
        {"type": "email", "to": ["ops@example.com"]},
        {"type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=abc", "secret": DING},
    ],
}


def test_the_spec_example_parses():
    prefs = parse_preferences(SPEC_EXAMPLE)
    assert prefs.language == "zh"
    assert [c.type for c in prefs.channels] == ["webhook", "email", "dingtalk"]
    assert wants(prefs, "deadline.alerted") and not wants(prefs, "dispute.updated")


def test_an_empty_document_takes_the_defaults():
    prefs = parse_preferences({})
    assert prefs.language == "zh" and prefs.channels == [] and "dispute.received" in prefs.events


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        ({"language": "ja"}, errors.UnknownLanguage, "language"),
        ({"events": ["dispute.received", "evidence.uploaded"]}, errors.UnknownEvent, "events.1"),
        ({"channels": [{"type": "telegram", "url": "https://t.me/x"}]}, errors.UnknownChannelType, "channels.0"),
        ({"channels": [{"url": "https://t.me/x"}]}, errors.UnknownChannelType, "channels.0"),
        (
            {"channels": [{"type": "webhook", "url": "https://a.example/h", "secret": "sk_live_1"}]},
            errors.InvalidSecret,
            "channels.0.webhook.secret",
        ),
        (
            {"channels": [{"type": "webhook", "url": "https://a.example/h", "secret": "whsec_!!!"}]},
            errors.InvalidSecret,
            "channels.0.webhook.secret",
        ),
        (
            {
                "channels": [
                    {
                        "type": "webhook",
                        "url": "https://a.example/h",
                        "secret": "whsec_" + base64.b64encode(b"k" * 8).decode(),
                    }
                ]
            },
            errors.InvalidSecret,
            "channels.0.webhook.secret",
        ),
        (
            {"channels": [{"type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send", "secret": "abc"}]},
            errors.InvalidSecret,
            "channels.0.dingtalk.secret",
        ),
        (
            {
                "channels": [
                    {"type": "feishu", "url": "https://open.feishu.cn/open-apis/bot/v2/hook/x", "secret": "a b"}
                ]
            },
            errors.InvalidSecret,
            "channels.0.feishu.secret",
        ),
        (
            {"quiet_hours": {"start": "22:00", "end": "08:00", "timezone": "Mars/Olympus"}},
            errors.UnknownTimezone,
            "quiet_hours.timezone",
        ),
        (
            {"channels": [{"type": "email", "to": ["ops@example.com\r\nBcc: all@example.com"]}]},
            errors.InvalidPreferences,
            "channels.0.email.to",
        ),
        ({"channels": [{"type": "email", "to": []}]}, errors.InvalidPreferences, "channels.0.email.to"),
        ({"min_amount": {"value": "-5", "currency": "KRW"}}, errors.InvalidPreferences, "min_amount.value"),
        ({"colour": "red"}, errors.InvalidPreferences, "colour"),
    ],
)
def test_bad_input_is_refused_with_its_code_and_field(change, error, field):
    with pytest.raises(error) as refused:
        parse_preferences({**SPEC_EXAMPLE, **change})
    assert type(refused.value) is error
    assert refused.value.data["field"] == field


def test_a_refusal_never_echoes_the_secret():
    bad = "whsec_" + "A" * 10 + "!"
    with pytest.raises(errors.InvalidSecret) as refused:
        parse_preferences({"channels": [{"type": "webhook", "url": "https://a.example/h", "secret": bad}]})
    assert bad not in str(refused.value.detail) and bad not in repr(refused.value.data)


def test_not_an_object_is_refused():
    with pytest.raises(errors.InvalidPreferences):
        parse_preferences(["zh"])


def test_get_shows_masks_never_secrets():
    shown = masked(parse_preferences(SPEC_EXAMPLE))
    assert WHSEC not in repr(shown) and DING not in repr(shown)
    assert shown["channels"][0]["secret"] == "whsec_********" and shown["channels"][0]["secret_set"] is True
    assert shown["channels"][2]["secret"] == "SEC********"


def test_sending_the_mask_back_keeps_the_stored_secret():
    stored = {("webhook", "https://erp.example.com/hooks/disputes"): WHSEC}
    again = parse_preferences(
        masked(parse_preferences(SPEC_EXAMPLE))
        | {
            "channels": [
                {"type": "webhook", "url": "https://erp.example.com/hooks/disputes", "secret": "whsec_********"},
            ]
        }
    )
    assert carry_secrets(again, stored).channels[0].secret == WHSEC  # type: ignore[union-attr]


def test_a_mask_for_a_new_url_is_refused():
    again = parse_preferences(
        {"channels": [{"type": "webhook", "url": "https://new.example/h", "secret": "whsec_********"}]}
    )
    with pytest.raises(errors.SecretRequired):
        carry_secrets(again, {("webhook", "https://erp.example.com/hooks/disputes"): WHSEC})


def test_a_webhook_needs_a_secret_but_a_robot_does_not():
    with pytest.raises(errors.SecretRequired):
        carry_secrets(parse_preferences({"channels": [{"type": "webhook", "url": "https://a.example/h"}]}), {})
    robot = parse_preferences({"channels": [{"type": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send"}]})
    assert carry_secrets(robot, {}).channels[0].secret is None  # type: ignore[union-attr]


def test_an_explicit_null_removes_a_robot_secret():
    url = "https://oapi.dingtalk.com/robot/send?access_token=abc"
    stored = {("dingtalk", url): DING}
    omitted = parse_preferences({"channels": [{"type": "dingtalk", "url": url}]})
    removed = parse_preferences({"channels": [{"type": "dingtalk", "url": url, "secret": None}]})
    assert carry_secrets(omitted, stored).channels[0].secret == DING  # type: ignore[union-attr]
    assert carry_secrets(removed, stored).channels[0].secret is None  # type: ignore[union-attr]


def test_small_disputes_in_the_same_currency_go_to_the_digest():
    prefs = parse_preferences(SPEC_EXAMPLE)
    assert goes_to_digest(prefs, "dispute.received", MoneyIn(value="9999", currency="KRW"))
    assert not goes_to_digest(prefs, "dispute.received", MoneyIn(value="10000", currency="KRW"))
    assert not goes_to_digest(prefs, "dispute.received", MoneyIn(value="5", currency="CNY"))
    assert not goes_to_digest(prefs, "dispute.received", None)
    assert not goes_to_digest(prefs, "deadline.alerted", MoneyIn(value="1", currency="KRW"))


QUIET = {"quiet_hours": {"start": "22:00", "end": "08:00", "timezone": "Asia/Shanghai"}}


def _beijing(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return (
        datetime(2026, 11, day, hour - 8, minute, tzinfo=UTC)
        if hour >= 8
        else datetime(2026, 11, day - 1, hour + 16, minute, tzinfo=UTC)
    )


def test_quiet_hours_across_midnight_end_the_next_morning():
    prefs = parse_preferences(QUIET)
    assert quiet_until(prefs.quiet_hours, _beijing(23)) == _beijing(8, day=11)
    assert quiet_until(prefs.quiet_hours, _beijing(3)) == _beijing(8)
    assert quiet_until(prefs.quiet_hours, _beijing(8)) is None
    assert quiet_until(prefs.quiet_hours, _beijing(21, 59)) is None


def test_quiet_hours_within_one_day():
    prefs = parse_preferences({"quiet_hours": {"start": "12:00", "end": "13:30", "timezone": "Asia/Seoul"}})
    noon_kst = datetime(2026, 11, 10, 3, 15, tzinfo=UTC)
    assert quiet_until(prefs.quiet_hours, noon_kst) == datetime(2026, 11, 10, 4, 30, tzinfo=UTC)


def test_an_urgent_reminder_ignores_quiet_hours():
    prefs = parse_preferences(QUIET)
    now = _beijing(23)
    assert release_at(prefs, now=now, due_at=now + timedelta(hours=5)) == now
    assert release_at(prefs, now=now, due_at=now + timedelta(days=3)) == _beijing(8, day=11)
    # Held, but released 6 h before its deadline at the latest.
    assert release_at(prefs, now=now, due_at=now + timedelta(hours=8)) == now + timedelta(hours=2)
    assert release_at(parse_preferences({}), now=now) == now
