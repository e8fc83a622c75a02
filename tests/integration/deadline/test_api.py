"""The deadline API: one deadline in three zones, the at-risk list, calendar overrides; tenancy and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.deadline.conftest import new_dispute_id, received, updated

CHUSEOK_NOTICE = "2026-09-23T10:15:00+09:00"  # Wed; Chuseok 24-26 Sep, then a Sunday
CHUSEOK_DUE = datetime(2026, 10, 2, 14, 59, 59, tzinfo=UTC)  # Fri 2 Oct 23:59:59 KST, 5 business days


@pytest.fixture
async def clean_overrides(deadline):
    await deadline.client.put("/v1/calendar/overrides", json={"overrides": []}, headers=deadline.operator_headers())
    yield
    await deadline.client.put("/v1/calendar/overrides", json={"overrides": []}, headers=deadline.operator_headers())


async def test_a_deadline_in_utc_kst_and_beijing_with_the_holidays_skipped_by_name(deadline):
    dispute = new_dispute_id()
    deadline.clock.set(datetime(2026, 9, 23, 2, 0, tzinfo=UTC))
    await deadline.deliver_events(received(dispute, notified_at=CHUSEOK_NOTICE, kind="chargeback"))
    deadline.clock.set(CHUSEOK_DUE - timedelta(hours=30))

    answer = await deadline.client.get(f"/v1/deadlines/{dispute}", headers=deadline.seller_headers("V1"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["due_at"] == {
        "utc": "2026-10-02T14:59:59Z",
        "kst": "2026-10-02T23:59:59+09:00",
        "beijing": "2026-10-02T22:59:59+08:00",
    }
    assert (body["business_days"], body["rule"], body["state"]) == (5, "computed", "open")
    assert body["seconds_left"] == 30 * 3600
    assert body["skipped"][:3] == [
        {
            "date": "2026-09-24",
            "reason": "holiday",
            "names_ko": ["추석 전날"],
            "names_zh": ["中秋节前一天"],
            "note": "",
        },
        {"date": "2026-09-25", "reason": "holiday", "names_ko": ["추석"], "names_zh": ["中秋节"], "note": ""},
        {
            "date": "2026-09-26",
            "reason": "holiday",
            "names_ko": ["추석 다음날"],
            "names_zh": ["中秋节次日"],
            "note": "",
        },
    ]
    assert body["skipped"][3]["reason"] == "weekend"
    assert [(r["offset"], r["state"]) for r in body["reminders"]] == [
        ("72h", "pending"),
        ("24h", "pending"),
        ("6h", "pending"),
        ("1h", "pending"),
    ]
    assert body["reminders"][0]["fire_at"] == "2026-09-29T14:59:59Z"


async def test_another_sellers_deadline_is_not_found(deadline):
    dispute = new_dispute_id()
    await deadline.deliver_events(received(dispute, seller_id="V1"))
    other = await deadline.client.get(f"/v1/deadlines/{dispute}", headers=deadline.seller_headers("V2"))
    missing = await deadline.client.get("/v1/deadlines/CD-nope", headers=deadline.seller_headers("V1"))
    assert other.status_code == missing.status_code == 404
    assert other.json()["code"] == missing.json()["code"] == "deadline_not_found"
    assert (
        await deadline.client.get(f"/v1/deadlines/{dispute}", headers=deadline.operator_headers())
    ).status_code == 200


async def test_at_risk_lists_the_sellers_open_deadlines_due_soon_most_urgent_first(deadline):
    seller = f"V{new_dispute_id()[3:]}"
    soon, later, far, ended = (new_dispute_id() for _ in range(4))
    deadline.clock.set(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    await deadline.deliver_events(
        received(far, seller_id=seller, kind="chargeback"),  # Mon 30 Nov
        received(later, seller_id=seller, respond_by="2026-11-24"),
        received(soon, seller_id=seller, respond_by="2026-11-23T20:00:00+09:00"),
        received(ended, seller_id=seller, respond_by="2026-11-23"),
        received(new_dispute_id(), seller_id="V-OTHER", respond_by="2026-11-23"),
    )
    await deadline.deliver_events(updated(ended, change="accepted", seller_id=seller))
    headers = deadline.seller_headers(seller)

    answer = await deadline.client.get("/v1/deadlines?due_within=48h", headers=headers)
    assert answer.status_code == 200, answer.text
    assert [i["dispute_id"] for i in answer.json()["items"]] == [soon, later]
    assert answer.json()["items"][0]["seconds_left"] == 10 * 3600

    page1 = (await deadline.client.get("/v1/deadlines?limit=2", headers=headers)).json()
    page2 = (await deadline.client.get(f"/v1/deadlines?limit=2&cursor={page1['next_cursor']}", headers=headers)).json()
    assert [i["dispute_id"] for i in page1["items"] + page2["items"]] == [soon, later, far]
    assert page2["next_cursor"] is None

    operator = deadline.operator_headers()
    scoped = await deadline.client.get(f"/v1/deadlines?seller_id={seller}&due_within=1d", headers=operator)
    assert [i["dispute_id"] for i in scoped.json()["items"]] == [soon]
    cross = await deadline.client.get("/v1/deadlines?seller_id=V-OTHER", headers=headers)
    assert cross.status_code == 404


@pytest.mark.parametrize("bad", ["24", "tomorrow", "0h", "-1h", "1h1d", "9999999999999d"])
async def test_a_due_within_that_is_not_a_duration_is_refused(deadline, bad):
    answer = await deadline.client.get("/v1/deadlines", params={"due_within": bad}, headers=deadline.operator_headers())
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_duration"


async def test_a_bad_cursor_is_refused(deadline):
    answer = await deadline.client.get("/v1/deadlines?cursor=bm9wZQ", headers=deadline.operator_headers())
    assert (answer.status_code, answer.json()["code"]) == (400, "invalid_cursor")


async def test_overrides_are_for_operators(deadline):
    seller = deadline.seller_headers("V1")
    assert (await deadline.client.get("/v1/calendar/overrides", headers=seller)).status_code == 403
    put = await deadline.client.put("/v1/calendar/overrides", json={"overrides": []}, headers=seller)
    assert put.status_code == 403
    assert (await deadline.client.get("/v1/calendar/overrides")).status_code == 401


@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"date": "2026-9-30", "state": "closed"}, "invalid_override_date"),
        ({"date": "20260930", "state": "closed"}, "invalid_override_date"),
        ({"date": "2026-02-30", "state": "closed"}, "invalid_override_date"),
        ({"date": 20260930, "state": "closed"}, "invalid_override_date"),
        ({"date": "2026-09-30T00:00:00+09:00", "state": "closed"}, "invalid_override_date"),
        ({"date": "2026-09-30", "state": "shut"}, "invalid_override"),
    ],
)
async def test_a_malformed_override_is_refused_and_nothing_changes(deadline, clean_overrides, override, code):
    answer = await deadline.client.put(
        "/v1/calendar/overrides", json={"overrides": [override]}, headers=deadline.operator_headers()
    )
    assert (answer.status_code, answer.json()["code"]) == (422, code)
    listed = await deadline.client.get("/v1/calendar/overrides", headers=deadline.operator_headers())
    assert listed.json()["overrides"] == []


async def test_two_overrides_for_one_date_are_refused(deadline, clean_overrides):
    body = {"overrides": [{"date": "2026-09-30", "state": "closed"}, {"date": "2026-09-30", "state": "open"}]}
    answer = await deadline.client.put("/v1/calendar/overrides", json=body, headers=deadline.operator_headers())
    assert (answer.status_code, answer.json()["code"]) == (422, "duplicate_override_date")


async def test_an_override_put_over_http_is_used_by_the_next_computation_and_moves_open_deadlines(
    deadline, clean_overrides
):
    open_before, outside = new_dispute_id(), new_dispute_id()
    deadline.clock.set(datetime(2026, 9, 23, 2, 0, tzinfo=UTC))
    await deadline.deliver_events(received(open_before, notified_at=CHUSEOK_NOTICE, kind="chargeback"))
    # Notified on 30 Sep itself: its window starts on 1 Oct, so closing 30 Sep does not concern it.
    await deadline.deliver_events(received(outside, notified_at="2026-09-30T10:00:00+09:00", kind="chargeback"))
    await deadline.events()

    body = {
        "overrides": [
            {
                "date": "2026-09-30",
                "state": "closed",
                "name_ko": "임시공휴일",
                "name_zh": "临时公休日",
                "note": "decree",
            }
        ]
    }
    put = await deadline.client.put("/v1/calendar/overrides", json=body, headers=deadline.operator_headers())
    assert put.status_code == 200, put.text
    assert open_before in put.json()["rescheduled"]  # (others of this module's tests may be moved too)
    assert outside not in put.json()["rescheduled"]
    assert (await deadline.row(outside)).version == 1
    (listed,) = (await deadline.client.get("/v1/calendar/overrides", headers=deadline.operator_headers())).json()[
        "overrides"
    ]
    assert (listed["date"], listed["state"], listed["name_ko"], listed["updated_by"]) == (
        "2026-09-30",
        "closed",
        "임시공휴일",
        "operator",
    )

    moved_due = datetime(2026, 10, 6, 14, 59, 59, tzinfo=UTC)  # 30 Sep closed; 3 Oct, its substitute 5 Oct
    row = await deadline.row(open_before)
    assert (row.due_at, row.version) == (moved_due, 2)
    (announced,) = await deadline.events(open_before)
    assert announced.type == "deadline.scheduled" and announced.data.due_at == moved_due

    fresh = new_dispute_id()
    await deadline.deliver_events(received(fresh, notified_at=CHUSEOK_NOTICE, kind="chargeback"))
    row = await deadline.row(fresh)
    assert row.due_at == moved_due
    override_day = next(d for d in row.skipped if d["date"] == "2026-09-30")
    assert override_day == {
        "date": "2026-09-30",
        "reason": "override",
        "names_ko": ["임시공휴일"],
        "names_zh": ["临时公休日"],
        "note": "decree",
    }

    # Taking it back moves both back, and a deadline outside the changed window is left alone.
    put = await deadline.client.put(
        "/v1/calendar/overrides", json={"overrides": []}, headers=deadline.operator_headers()
    )
    assert {open_before, fresh} <= set(put.json()["rescheduled"])
    assert (await deadline.row(fresh)).due_at == CHUSEOK_DUE
