"""Events in, messages out: through the consumer's step, the dispatcher's pass and a local webhook sink.

The sink is a tiny HTTP server on 127.0.0.1 (sinks.py); every body it receives is verified with
the reference `standardwebhooks` library, with the seller's secret.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from standardwebhooks import Webhook

from services.notify import models
from tests.integration.notify.conftest import (
    WHSEC,
    alerted,
    later,
    new_dispute_id,
    new_seller,
    received,
    scheduled,
    submitted,
    updated,
    validated,
    verdict,
    webhook_prefs,
)
from tests.integration.notify.sinks import Behaviour, HttpSink, Received

KST = ZoneInfo("Asia/Seoul")
BEIJING = ZoneInfo("Asia/Shanghai")


def verified(request: Received) -> dict:
    """The body, after the standardwebhooks library checked its signature (raises otherwise)."""
    headers = {k: v for k, v in request.headers.items() if k.startswith("webhook-")}
    return Webhook(WHSEC).verify(request.body, headers)  # type: ignore[no-any-return]


def deadline_in_days(now: datetime, days: int) -> datetime:
    """23:59 KST `days` days after `now`, in UTC."""
    day = (now.astimezone(KST) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, 23, 59, tzinfo=KST).astimezone(UTC)


async def test_a_new_dispute_waits_for_its_deadline_and_reads_in_chinese_with_kst_and_beijing_times(notify):
    seller, dispute = new_seller(), new_dispute_id()
    async with HttpSink() as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url))
        await notify.deliver_events(received(dispute, seller))
        await notify.drain()
        assert sink.received == []  # held for its deadline.scheduled
        due = deadline_in_days(notify.clock.now(), 5)
        await notify.deliver_events(scheduled(dispute, seller, due))
        assert await notify.drain() == 1
        assert len(sink.received) == 1
        body = verified(sink.received[0])
    assert body["type"] == "dispute.received"
    data = body["data"]
    kst, beijing = due.astimezone(KST), due.astimezone(BEIJING)
    assert f"{kst:%Y-%m-%d %H:%M} KST / {beijing:%H:%M} 北京时间" in data["text"]
    assert data["title"].startswith("【新争议】订单 3000123456789")
    assert "KRW 125,000" in data["text"]
    assert "상품을 받지 못했습니다" in data["text"]  # the Korean original beside the Chinese reason
    assert "还剩" in data["text"]
    assert data["url"] == f"https://desk.example.com/dashboard/cases/{dispute}"
    assert data["due_at"] == due.isoformat()
    [row] = await notify.notifications(seller)
    assert row["status"] == "delivered" and row["attempts"] == 1
    assert sink.received[0].headers["webhook-id"] == row["id"]


async def test_a_new_dispute_whose_deadline_never_comes_goes_after_the_bounded_wait_without_it(notify):
    seller, dispute = new_seller(), new_dispute_id()
    async with HttpSink() as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url))
        await notify.deliver_events(received(dispute, seller))
        later(notify, notify.settings.deadline_wait_s - 1)
        await notify.drain()
        assert sink.received == []
        later(notify, 2)
        assert await notify.drain() == 1
        data = verified(sink.received[0])["data"]
    assert data["due_at"] is None
    assert "截止时间：尚未确定" in data["text"]  # said, not left blank


async def test_every_consumed_event_type_produces_its_message(notify):
    seller, dispute = new_seller(), new_dispute_id()
    every = [
        "dispute.received",
        "dispute.updated",
        "deadline.scheduled",
        "evidence.validated",
        "deadline.alerted",
        "case.submitted",
        "verdict.returned",
    ]
    now = notify.clock.now()
    due = deadline_in_days(now, 3)
    async with HttpSink() as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url, events=every))
        await notify.deliver_events(scheduled(dispute, seller, due))  # the deadline first: no wait
        await notify.deliver_events(received(dispute, seller))
        await notify.deliver_events(updated(dispute, seller))
        await notify.deliver_events(validated(dispute, seller))
        await notify.deliver_events(alerted(dispute, seller, due, now))
        await notify.deliver_events(submitted(dispute, seller, now))
        await notify.deliver_events(verdict(dispute, seller))
        assert await notify.drain() == 7
        bodies = {b["type"]: b["data"] for b in map(verified, sink.received)}
    assert sorted(bodies) == sorted(every)
    expected_titles = {
        "dispute.received": "【新争议】",
        "dispute.updated": "【争议更新】",
        "deadline.scheduled": "【截止时间】",
        "evidence.validated": "【证据齐全】",
        "deadline.alerted": "【提醒】",
        "case.submitted": "【已提交】",
        "verdict.returned": "【裁决】",
    }
    for event_type, prefix in expected_titles.items():
        assert bodies[event_type]["title"].startswith(prefix), (event_type, bodies[event_type]["title"])
        assert bodies[event_type]["dispute_id"] == dispute
    assert "KRW 99,000" in bodies["dispute.updated"]["text"]
    assert "R-7788" in bodies["case.submitted"]["text"]
    assert "卖家胜诉" in bodies["verdict.returned"]["title"]


async def test_the_seller_language_decides_the_message(notify):
    seller, dispute = new_seller(), new_dispute_id()
    now = notify.clock.now()
    due = deadline_in_days(now, 1)
    async with HttpSink() as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url, language="ko"))
        await notify.deliver_events(alerted(dispute, seller, due, now))
        await notify.drain()
        data = verified(sink.received[0])["data"]
    assert "남음" in data["text"] and "베이징 시간" in data["text"]


async def test_a_sink_failing_twice_then_succeeding_gets_one_delivery_after_three_attempts_with_one_webhook_id(notify):
    seller, dispute = new_seller(), new_dispute_id()
    answers = iter([Behaviour(status=503), Behaviour(status=500), Behaviour(status=200)])
    async with HttpSink(lambda _: next(answers)) as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url))
        now = notify.clock.now()
        await notify.deliver_events(alerted(dispute, seller, deadline_in_days(now, 2), now))
        assert await notify.drain() == 1
        [row] = await notify.notifications(seller)
        assert row["status"] == "retrying" and row["attempts"] == 1
        later(notify, 6)  # past the first wait (5 s, jittered by at most 10 %)
        assert await notify.drain() == 1
        later(notify, 23)  # past the second (20 s)
        assert await notify.drain() == 1
        later(notify, 100)
        assert await notify.drain() == 0
        bodies = [verified(r) for r in sink.received]
        ids = {r.headers["webhook-id"] for r in sink.received}
    assert len(bodies) == 3
    [row] = await notify.notifications(seller)
    assert ids == {row["id"]}
    assert row["status"] == "delivered" and row["attempts"] == 3
    assert [(a["status_code"], a["outcome"]) for a in row["attempt_log"]] == [
        (503, "retry"),
        (500, "retry"),
        (200, "delivered"),
    ]
    assert all(a["latency_ms"] >= 0 for a in row["attempt_log"])


async def test_retry_after_is_honoured_when_longer_than_the_planned_wait(notify):
    seller, dispute = new_seller(), new_dispute_id()
    answers = iter([Behaviour(status=429, headers={"Retry-After": "60"}), Behaviour(status=200)])
    async with HttpSink(lambda _: next(answers)) as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url))
        now = notify.clock.now()
        await notify.deliver_events(alerted(dispute, seller, deadline_in_days(now, 2), now))
        await notify.drain()
        [row] = await notify.notifications(seller)
        assert datetime.fromisoformat(row["due_at"]) == now + timedelta(seconds=60)
        later(notify, 30)  # the schedule alone would have retried after 5 s
        assert await notify.drain() == 0
        later(notify, 31)
        assert await notify.drain() == 1
        assert len(sink.received) == 2
    [row] = await notify.notifications(seller)
    assert row["status"] == "delivered"


async def test_a_410_disables_the_channel_and_tells_the_seller_by_its_other_channel(notify):
    seller = new_seller()
    async with HttpSink(lambda _: Behaviour(status=410)) as gone, HttpSink() as other:
        prefs = {
            "language": "zh",
            "channels": [
                {"type": "webhook", "url": gone.url, "secret": WHSEC},
                {"type": "slack", "url": other.url + "/slack"},
            ],
        }
        await notify.put_preferences(seller, prefs)
        now = notify.clock.now()
        await notify.deliver_events(alerted(new_dispute_id(), seller, deadline_in_days(now, 2), now))
        await notify.drain()
        later(notify, 10)
        await notify.drain()
        assert len(gone.received) == 1  # never retried
        slack = [json.loads(r.body) for r in other.received]
        # the reminder itself and the notice that the webhook is disabled
        assert len(slack) == 2
        assert any("通知渠道已停用" in json.dumps(body, ensure_ascii=False) for body in slack)
        # later events skip the disabled channel
        await notify.deliver_events(alerted(new_dispute_id(), seller, deadline_in_days(now, 3), now))
        await notify.drain()
        assert len(gone.received) == 1
    rows = await notify.notifications(seller, channel="webhook")
    assert [r["status"] for r in rows] == ["disabled"]
    answer = await notify.client.get("/v1/preferences", headers=notify.seller_headers(seller))
    webhook = answer.json()["channels"][0]
    assert webhook["disabled"] is True and webhook["secret"] == "whsec_********"


async def test_a_redelivered_event_sends_nothing_new(notify):
    seller, dispute = new_seller(), new_dispute_id()
    now = notify.clock.now()
    event = alerted(dispute, seller, deadline_in_days(now, 2), now)
    async with HttpSink() as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url))
        assert await notify.deliver_events(event) == ["handled"]
        await notify.drain()
        assert await notify.deliver_events(event) == ["duplicate"]
        await notify.drain()
        assert len(sink.received) == 1
    assert len(await notify.notifications(seller)) == 1


async def test_no_preferences_sends_nothing(notify):
    seller = new_seller()
    now = notify.clock.now()
    await notify.deliver_events(alerted(new_dispute_id(), seller, deadline_in_days(now, 2), now))
    assert await notify.drain() == 0
    assert await notify.notifications(seller) == []


async def test_quiet_hours_hold_a_message_until_they_end_but_not_an_urgent_reminder(notify):
    seller = new_seller()
    now = notify.clock.now()
    local = now.astimezone(BEIJING)
    start = (local - timedelta(hours=1)).strftime("%H:%M")
    end = (local + timedelta(hours=2)).strftime("%H:%M")
    quiet = {"start": start, "end": end, "timezone": "Asia/Shanghai"}
    async with HttpSink() as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url, quiet_hours=quiet))
        await notify.deliver_events(alerted(new_dispute_id(), seller, now + timedelta(days=2), now))
        await notify.deliver_events(alerted(new_dispute_id(), seller, now + timedelta(hours=3), now))
        assert await notify.drain() == 1  # under 6 h left: through the quiet hours
        later(notify, 2 * 3600 + 60)
        assert await notify.drain() == 1
        assert len(sink.received) == 2


async def test_the_digest_collects_a_day_of_small_disputes_into_one_message(notify):
    seller = new_seller()
    prefs = webhook_prefs("", min_amount={"value": "50000", "currency": "KRW"})
    small = [new_dispute_id() for _ in range(3)]
    big = new_dispute_id()
    async with HttpSink() as sink:
        prefs["channels"][0]["url"] = sink.url
        await notify.put_preferences(seller, prefs)
        for dispute in small:
            await notify.deliver_events(scheduled(dispute, seller, deadline_in_days(notify.clock.now(), 5)))
            await notify.deliver_events(received(dispute, seller, amount="20000"))
        await notify.deliver_events(scheduled(big, seller, deadline_in_days(notify.clock.now(), 5)))
        await notify.deliver_events(received(big, seller, amount="80000"))
        assert await notify.drain() == 1  # the big one, on its own
        later(notify, 60)
        assert await notify.drain() == 0  # the digest waits for the next morning
        [row] = await notify.notifications(seller, status="pending")
        today = notify.clock.now().astimezone(BEIJING).date()
        next_morning = datetime.combine(today + timedelta(days=1), time(notify.settings.digest_hour), tzinfo=BEIJING)
        assert row["event_type"] == "digest" and datetime.fromisoformat(row["due_at"]) == next_morning
        # Receivers check webhook-timestamp against real time: rather than move the clock to the next
        # morning, the digest row is made due now (its due time was checked just above).
        async with notify.session() as session:
            t = models.notifications
            await session.execute(update(t).where(t.c.id == uuid.UUID(row["id"])).values(due_at=notify.clock.now()))
        assert await notify.drain() == 1
        bodies = [verified(r) for r in sink.received]
    assert [b["type"] for b in bodies] == ["dispute.received", "digest"]
    digest = bodies[1]["data"]
    assert sorted(digest["dispute_ids"]) == sorted(small)
    assert "3 笔" in digest["title"]


async def test_a_dispatcher_cancelled_mid_send_loses_nothing_and_resends_with_the_same_webhook_id(notify):
    seller, dispute = new_seller(), new_dispute_id()
    entered = asyncio.Event()

    def slow(_: Received) -> Behaviour:
        entered.set()
        return Behaviour(delay_s=5)

    async with HttpSink(slow) as sink:
        await notify.put_preferences(seller, webhook_prefs(sink.url))
        now = notify.clock.now()
        await notify.deliver_events(alerted(dispute, seller, deadline_in_days(now, 2), now))
        task = asyncio.create_task(notify.dispatch())
        await asyncio.wait_for(entered.wait(), 10)  # claimed, committed, in the send
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        [row] = await notify.notifications(seller)
        assert row["status"] == "pending" and row["attempts"] == 0  # nothing recorded
        assert await notify.drain() == 0  # under its lease
        sink.respond = lambda _: Behaviour()
        later(notify, notify.settings.dispatch_lease_s + 1)
        assert await notify.drain() == 1
        assert len(sink.received) == 2
        ids = {r.headers["webhook-id"] for r in sink.received}
        verified(sink.received[1])
    [row] = await notify.notifications(seller)
    assert ids == {row["id"]}
    assert row["status"] == "delivered" and row["attempts"] == 1
