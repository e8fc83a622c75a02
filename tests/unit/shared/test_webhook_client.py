"""The sending side of a signed notice (shared/webhook_client.py): what is signed, how an example is made current."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from shared.webhook_client import (
    EXAMPLES,
    add_business_days,
    freshen_notice,
    looks_like_an_example,
    shift_times,
    signed_headers,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = datetime(2026, 12, 24, 1, 30, tzinfo=UTC)  # Thursday 10:30 KST, the day before Christmas


def test_the_signature_is_over_the_exact_bytes_and_the_reference_library_verifies_it():
    body = (EXAMPLES / "notice_two_orders.json").read_bytes()
    headers = signed_headers(SECRET, body, webhook_id="msg_1", at=datetime.now(UTC))
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type"}
    Webhook(SECRET).verify(body, headers)  # raises when it does not match
    stripped = body.replace(b"\n", b"")  # what `curl -d @file` sends
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(stripped, headers)


def test_business_days_skip_weekends_and_korean_holidays():
    # Christmas (Fri), the weekend and New Year's Day are skipped.
    assert add_business_days(date(2026, 12, 24), 5) == date(2027, 1, 4)
    assert add_business_days(date(2026, 12, 4), 1) == date(2026, 12, 7)  # Friday -> Monday


def test_an_opened_notice_is_made_current_with_its_own_ids():
    body = (EXAMPLES / "notice_two_orders.json").read_bytes()
    fresh = freshen_notice(body, now=NOW, tag="AB12CD")
    notice = json.loads(fresh.body)
    assert notice["notified_at"] == "2026-12-24T10:30:00+09:00"
    assert notice["notice_id"] == "N-2026-1102-017-AB12CD"
    assert fresh.dispute_ids == {"CD-2026-004411": "CD-2026-004411-AB12CD", "CD-2026-004412": "CD-2026-004412-AB12CD"}
    assert [d["respond_by"] for d in notice["disputes"]] == [None, "2027-01-04"]  # null stays null: computed
    assert fresh.shift == NOW - datetime.fromisoformat("2026-11-02T09:40:00+09:00")
    again = freshen_notice(body, now=NOW)
    assert set(again.dispute_ids.values()).isdisjoint(fresh.dispute_ids.values())


def test_an_update_keeps_the_ids_of_the_cases_it_names():
    update = {
        "event": "dispute.updated",
        "notice_id": "N-1",
        "notified_at": "2026-11-03T09:00:00+09:00",
        "disputes": [{"dispute_id": "CD-1", "respond_by": "2026-11-10"}],
    }
    fresh = freshen_notice(json.dumps(update).encode(), now=NOW, tag="X")
    notice = json.loads(fresh.body)
    assert notice["notice_id"] == "N-1" and notice["disputes"][0]["dispute_id"] == "CD-1" and fresh.dispute_ids == {}
    assert notice["disputes"][0]["respond_by"] == "2027-01-04"


def test_evidence_times_move_with_the_notice_and_a_time_without_a_zone_stays_as_written():
    meta = json.loads((EXAMPLES / "evidence_tracking_cj_delivered.json").read_text(encoding="utf-8"))
    moved = shift_times(meta, timedelta(days=31))
    assert moved["delivered_at"] == "2026-11-28T14:22:00+09:00"
    assert (
        moved["events"][0]["time"] == "2026-11-26T18:05:00+09:00"
        and moved["tracking_number"] == meta["tracking_number"]
    )
    wechat = json.loads((EXAMPLES / "evidence_messages_wechat.json").read_text(encoding="utf-8"))
    assert shift_times(wechat, timedelta(days=31)) == wechat


def test_a_file_under_examples_is_an_example():
    assert looks_like_an_example(EXAMPLES / "notice_two_orders.json")
    assert not looks_like_an_example(EXAMPLES.parent / "pyproject.toml")
