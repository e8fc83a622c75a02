"""The notify HTTP API: preferences (validated, targets checked, secrets masked), notifications."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.notify.conftest import WHSEC, alerted, new_dispute_id, new_seller, webhook_prefs
from tests.integration.notify.sinks import Behaviour, HttpSink


async def _put(notify, seller, document, **params):
    return await notify.client.put(
        "/v1/preferences", json=document, params=params, headers=notify.seller_headers(seller)
    )


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://169.254.169.254/latest/meta-data/", "target_metadata_address"),
        ("http://[fd00:ec2::254]/", "target_metadata_address"),
        ("http://metadata.google.internal/computeMetadata/v1/", "target_metadata_address"),
        ("http://0xa9.254.169.254/", "target_metadata_address"),
        ("ftp://example.com/hook", "target_malformed"),
    ],
)
async def test_targets_refused_always_are_refused_at_put_even_with_private_targets_allowed(notify, url, code):
    answer = await _put(notify, new_seller(), webhook_prefs(url))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == code
    assert answer.json()["field"] == "channels.0.url"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://127.0.0.1/hook", "target_loopback"),
        ("https://[::1]/hook", "target_loopback"),
        ("https://10.1.2.3/hook", "target_private_address"),
        ("https://192.168.0.10/hook", "target_private_address"),
        ("https://169.254.10.10/hook", "target_link_local"),
        ("https://localhost/hook", "target_loopback"),
        ("https://2130706433/hook", "target_loopback"),
    ],
)
async def test_private_targets_are_refused_at_put_without_allow_private_targets(infra, url, code):
    """A second service with the default `allow_private_targets=False` (https-only is DD_ENV's, unit-tested)."""
    import services.notify.main
    from tests.harness import service_harness
    from tests.integration.notify.conftest import Notify

    async with service_harness(infra, services.notify.main, harness=Notify) as production:
        answer = await production.client.put(
            "/v1/preferences", json=webhook_prefs(url), headers=production.seller_headers(new_seller())
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == code


async def test_a_refused_put_saves_nothing(notify):
    seller = new_seller()
    answer = await _put(notify, seller, webhook_prefs("http://169.254.169.254/"))
    assert answer.status_code == 422
    got = await notify.client.get("/v1/preferences", headers=notify.seller_headers(seller))
    assert got.status_code == 404 and got.json()["code"] == "preferences_not_found"


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({"language": "fr"}, "unknown_language"),
        ({"events": ["evidence.uploaded"]}, "unknown_event"),
        ({"channels": [{"type": "pager", "url": "https://example.com"}]}, "unknown_channel_type"),
        ({"channels": [{"type": "webhook", "url": "https://example.com/h", "secret": "nope"}]}, "invalid_secret"),
        ({"channels": [{"type": "webhook", "url": "https://example.com/h"}]}, "secret_required"),
        ({"quiet_hours": {"start": "22:00", "end": "08:00", "timezone": "Mars/Base"}}, "unknown_timezone"),
        ({"min_amount": {"value": "abc", "currency": "KRW"}}, "invalid_preferences"),
    ],
)
async def test_bad_preferences_get_their_own_code(notify, document, code):
    answer = await _put(notify, new_seller(), document)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == code
    assert "nope" not in answer.text  # the input, which may be a secret, is never echoed


async def test_secrets_are_masked_kept_when_the_mask_comes_back_and_never_shown_again(notify):
    seller = new_seller()
    async with HttpSink() as sink:
        saved = await notify.put_preferences(seller, webhook_prefs(sink.url))
        assert saved["channels"][0]["secret"] == "whsec_********"
        assert saved["channels"][0]["secret_set"] is True
        again = await notify.put_preferences(seller, {**webhook_prefs(sink.url), "language": "en"})
        assert again["channels"][0]["secret_set"] is True
        got = await notify.client.get("/v1/preferences", headers=notify.seller_headers(seller))
        assert WHSEC not in got.text and got.json()["language"] == "en"
        async with notify.session() as session:
            from sqlalchemy import select

            from services.notify import models

            stored = (
                await session.execute(
                    select(models.preferences.c.document).where(models.preferences.c.seller_id == seller)
                )
            ).scalar_one()
        assert WHSEC not in str(stored)  # sealed at rest


async def test_an_operator_names_the_seller_and_a_seller_cannot_name_another(notify):
    seller, other = new_seller(), new_seller()
    async with HttpSink() as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url))
    nameless = await notify.client.get("/v1/preferences", headers=notify.operator_headers())
    assert nameless.status_code == 422 and nameless.json()["code"] == "seller_id_required"
    named = await notify.client.get("/v1/preferences", params={"seller_id": seller}, headers=notify.operator_headers())
    assert named.status_code == 200 and named.json()["seller_id"] == seller
    crossed = await notify.client.get(
        "/v1/preferences", params={"seller_id": seller}, headers=notify.seller_headers(other)
    )
    assert crossed.status_code == 404


async def test_a_seller_cannot_read_or_retry_another_sellers_notifications(notify):
    seller, other = new_seller(), new_seller()
    async with HttpSink(lambda _: Behaviour(status=500)) as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url))
        now = notify.clock.now()
        await notify.deliver_events(alerted(new_dispute_id(), seller, now + timedelta(days=2), now))
        await notify.drain()
    [row] = await notify.notifications(seller)
    assert await notify.notifications(other) == []
    listed = await notify.client.get(
        "/v1/notifications", params={"seller_id": seller}, headers=notify.seller_headers(other)
    )
    assert listed.status_code == 404
    for method, path in (("GET", f"/v1/notifications/{row['id']}"), ("POST", f"/v1/notifications/{row['id']}/retry")):
        answer = await notify.client.request(method, path, headers=notify.seller_headers(other))
        assert answer.status_code == 404 and answer.json()["code"] == "notification_not_found"
    mine = await notify.client.get(f"/v1/notifications/{row['id']}", headers=notify.seller_headers(seller))
    assert mine.status_code == 200


async def test_retry_makes_a_dead_notification_due_now_and_a_delivered_one_is_refused(notify):
    seller = new_seller()
    notify.context.retry = type(notify.context.retry)(delays_s=(5.0,))  # two attempts, then dead
    try:
        async with HttpSink(lambda _: Behaviour(status=500)) as sink:
            await notify.put_preferences(seller, webhook_prefs(sink.url))
            now = notify.clock.now()
            await notify.deliver_events(alerted(new_dispute_id(), seller, now + timedelta(days=2), now))
            await notify.drain()
            notify.clock.advance(timedelta(seconds=6))
            await notify.drain()
            [row] = await notify.notifications(seller)
            assert row["status"] == "dead" and row["attempts"] == 2
            sink.respond = lambda _: Behaviour()
            answer = await notify.client.post(
                f"/v1/notifications/{row['id']}/retry", headers=notify.seller_headers(seller)
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == "retrying"
            assert await notify.drain() == 1
            assert {r.headers["webhook-id"] for r in sink.received} == {row["id"]}
    finally:
        notify.context.retry = type(notify.context.retry)(delays_s=notify.settings.retry_delays_s)
    [row] = await notify.notifications(seller)
    assert row["status"] == "delivered" and row["attempts"] == 3
    again = await notify.client.post(f"/v1/notifications/{row['id']}/retry", headers=notify.seller_headers(seller))
    assert again.status_code == 409 and again.json()["code"] == "not_retryable"


async def test_notifications_are_filtered_and_paged_by_cursor(notify):
    seller = new_seller()
    async with HttpSink() as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url))
        now = notify.clock.now()
        disputes = [new_dispute_id() for _ in range(5)]
        for dispute in disputes:
            await notify.deliver_events(alerted(dispute, seller, now + timedelta(days=2), now))
            notify.clock.advance(timedelta(seconds=1))
        await notify.drain()
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        answer = await notify.client.get("/v1/notifications", params=params, headers=notify.seller_headers(seller))
        body = answer.json()
        seen += [item["dispute_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(disputes))  # newest first, each once
    one = await notify.notifications(seller, dispute_id=disputes[2], status="delivered", event="deadline.alerted")
    assert [item["dispute_id"] for item in one] == [disputes[2]]
    assert await notify.notifications(seller, channel="email") == []
    bad = await notify.client.get(
        "/v1/notifications", params={"cursor": "bm9wZQ"}, headers=notify.seller_headers(seller)
    )
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"
