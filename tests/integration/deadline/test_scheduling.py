"""dispute.received schedules a deadline and its reminders; updates move or end them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.deadline.settings import Settings
from tests.integration.deadline.conftest import (
    kst_end,
    new_dispute_id,
    received,
    submitted,
    updated,
    verdict,
)

DUE = datetime(2026, 11, 26, 14, 59, 59, tzinfo=UTC)  # Thu 23:59:59 KST: 3 business days after Mon 23 Nov
ALL = {72 * 60, 24 * 60, 6 * 60, 60}


async def test_received_stores_the_deadline_schedules_four_reminders_and_announces_it(deadline):
    dispute = new_dispute_id()
    assert await deadline.deliver_events(received(dispute)) == ["handled"]

    row = await deadline.row(dispute)
    assert (row.due_at, row.rule, row.business_days, row.state, row.version) == (DUE, "computed", 3, "open", 1)
    assert await deadline.reminders(dispute) == {(1, m): "pending" for m in ALL}
    (event,) = await deadline.events(dispute)
    assert event.type == "deadline.scheduled" and event.sellerid == "V1"
    assert event.data.due_at == DUE and event.data.rule == "computed" and event.data.business_days == 3
    assert event.data.reminder_offsets_minutes == (4320, 1440, 360, 60)


async def test_offsets_already_past_are_skipped_not_fired(deadline):
    deadline.clock.set(DUE - timedelta(hours=20))  # 20 h left: only the 6 h and 1 h reminders are ahead
    dispute = new_dispute_id()
    await deadline.deliver_events(received(dispute))

    assert await deadline.reminders(dispute) == {
        (1, 4320): "skipped",
        (1, 1440): "skipped",
        (1, 360): "pending",
        (1, 60): "pending",
    }
    (event,) = await deadline.events(dispute)
    assert event.data.reminder_offsets_minutes == (360, 60)
    await deadline.tick()
    assert await deadline.events(dispute, "deadline.alerted") == []  # nothing fired late


async def test_a_redelivered_or_repeated_received_changes_nothing(deadline):
    dispute = new_dispute_id()
    first = received(dispute)
    await deadline.deliver_events(first)
    assert await deadline.deliver_events(first) == ["duplicate"]
    await deadline.deliver_events(received(dispute, kind="chargeback"))  # another event id, same dispute
    row = await deadline.row(dispute)
    assert (row.kind, row.version) == ("platform_dispute", 1)
    assert len(await deadline.events(dispute, "deadline.scheduled")) == 1


async def test_explicit_respond_by_date_wins(deadline):
    dispute = new_dispute_id()
    await deadline.deliver_events(received(dispute, respond_by="2026-12-01"))
    row = await deadline.row(dispute)
    assert (row.due_at, row.rule) == (kst_end(datetime(2026, 12, 1).date()), "explicit")


async def test_a_new_respond_by_reschedules_and_announces_again(deadline):
    dispute = new_dispute_id()
    await deadline.deliver_events(received(dispute))
    await deadline.events()
    await deadline.deliver_events(updated(dispute, respond_by="2026-12-03"))

    row = await deadline.row(dispute)
    assert (row.due_at, row.rule, row.version) == (kst_end(datetime(2026, 12, 3).date()), "explicit", 2)
    reminders = await deadline.reminders(dispute)
    assert {k: v for k, v in reminders.items() if k[0] == 1} == {(1, m): "cancelled" for m in ALL}
    assert {k: v for k, v in reminders.items() if k[0] == 2} == {(2, m): "pending" for m in ALL}
    (event,) = await deadline.events(dispute)
    assert event.type == "deadline.scheduled" and event.data.rule == "explicit" and event.data.due_at == row.due_at

    # The old schedule never fires: at the old 72 h time nothing is due.
    deadline.clock.set(DUE - timedelta(hours=72))
    await deadline.tick()
    assert await deadline.events(dispute) == []


async def test_the_same_respond_by_again_changes_nothing(deadline):
    dispute = new_dispute_id()
    await deadline.deliver_events(received(dispute, respond_by="2026-12-01"))
    await deadline.events()
    await deadline.deliver_events(updated(dispute, respond_by="2026-12-01"))
    assert (await deadline.row(dispute)).version == 1
    assert await deadline.events(dispute) == []


async def test_other_field_updates_do_not_move_the_deadline(deadline):
    dispute = new_dispute_id()
    await deadline.deliver_events(received(dispute))
    await deadline.deliver_events(updated(dispute, reason_text="바뀐 사유"))
    assert (await deadline.row(dispute)).version == 1


async def _ends_with(deadline, event, state):
    dispute = event.subject
    await deadline.deliver_events(received(dispute))
    await deadline.deliver_events(event)
    assert (await deadline.row(dispute)).state == state
    assert set((await deadline.reminders(dispute)).values()) == {"cancelled"}
    deadline.clock.set(DUE + timedelta(days=1))  # past every reminder and the deadline
    await deadline.tick()
    assert await deadline.events(dispute, "deadline.alerted") == []  # no reminder, no missed


async def test_accepted_cancels_pending_reminders_and_nothing_fires(deadline):
    dispute = new_dispute_id()
    await _ends_with(deadline, updated(dispute, change="accepted"), "accepted")


async def test_closed_cancels_pending_reminders_and_nothing_fires(deadline):
    dispute = new_dispute_id()
    await _ends_with(deadline, updated(dispute, change="closed", outcome="won"), "closed")


async def test_submitted_cancels_pending_reminders_and_no_missed(deadline):
    dispute = new_dispute_id()
    await _ends_with(deadline, submitted(dispute), "submitted")


async def test_verdict_cancels_pending_reminders(deadline):
    dispute = new_dispute_id()
    await _ends_with(deadline, verdict(dispute), "decided")


async def test_submitted_after_some_reminders_fired_stops_the_rest(deadline):
    dispute = new_dispute_id()
    await deadline.deliver_events(received(dispute))
    deadline.clock.set(DUE - timedelta(hours=72))
    assert (await deadline.tick()).fired >= 1
    await deadline.deliver_events(submitted(dispute))
    deadline.clock.set(DUE + timedelta(hours=1))
    await deadline.tick()
    alerts = await deadline.events(dispute, "deadline.alerted")
    assert [(a.data.alert, a.data.offset_minutes) for a in alerts] == [("reminder", 4320)]
    assert await deadline.reminders(dispute) == {
        (1, 4320): "fired",
        (1, 1440): "cancelled",
        (1, 360): "cancelled",
        (1, 60): "cancelled",
    }


async def test_a_submission_before_the_dispute_is_parked_then_applied(deadline):
    dispute = new_dispute_id()
    assert await deadline.deliver_events(submitted(dispute)) == ["handled"]  # parked, not dead-lettered
    assert await deadline.row(dispute) is None
    await deadline.deliver_events(received(dispute))
    assert (await deadline.row(dispute)).state == "submitted"
    assert set((await deadline.reminders(dispute)).values()) == {"cancelled"}


async def test_every_reminder_fires_once_at_its_time_then_missed_once(deadline):
    dispute = new_dispute_id()
    await deadline.deliver_events(received(dispute))
    await deadline.events()
    for hours in (72, 24, 6, 1):
        deadline.clock.set(DUE - timedelta(hours=hours) + timedelta(seconds=1))
        await deadline.tick()
        await deadline.tick()  # a second tick at the same time fires nothing more
    deadline.clock.set(DUE + timedelta(seconds=1))
    await deadline.tick()
    deadline.clock.set(DUE + timedelta(days=3))
    await deadline.tick()
    alerts = await deadline.events(dispute)
    assert [(a.data.alert, a.data.offset_minutes) for a in alerts] == [
        ("reminder", 4320),
        ("reminder", 1440),
        ("reminder", 360),
        ("reminder", 60),
        ("missed", None),
    ]
    assert [round(a.data.hours_left) for a in alerts] == [72, 24, 6, 1, 0]
    row = await deadline.row(dispute)
    assert row.state == "missed" and row.missed_at == DUE + timedelta(seconds=1)


async def test_after_an_outage_only_the_latest_due_reminder_fires(deadline):
    dispute = new_dispute_id()
    await deadline.deliver_events(received(dispute))
    await deadline.events()
    deadline.clock.set(DUE - timedelta(hours=5))  # the 72 h, 24 h and 6 h reminders all due at once
    await deadline.tick()
    alerts = await deadline.events(dispute)
    assert [a.data.offset_minutes for a in alerts] == [360]
    assert await deadline.reminders(dispute) == {
        (1, 4320): "skipped",
        (1, 1440): "skipped",
        (1, 360): "fired",
        (1, 60): "pending",
    }


async def test_a_late_submission_after_missed_stops_nothing_more(deadline):
    dispute = new_dispute_id()
    await deadline.deliver_events(received(dispute))
    deadline.clock.set(DUE + timedelta(minutes=5))
    await deadline.tick()
    await deadline.deliver_events(submitted(dispute))
    assert (await deadline.row(dispute)).state == "submitted"
    await deadline.tick()
    assert [a.data.alert for a in await deadline.events(dispute, "deadline.alerted")] == ["missed"]


async def test_a_dispute_received_twice_in_one_consumed_batch_gets_one_deadline(deadline):
    dispute = new_dispute_id()
    assert await deadline.deliver_events(received(dispute), received(dispute, kind="chargeback")) == [
        "handled",
        "handled",
    ]
    row = await deadline.row(dispute)
    assert (row.kind, row.version) == ("platform_dispute", 1)  # the first wins
    assert len(await deadline.reminders(dispute)) == 4
    assert len(await deadline.events(dispute, "deadline.scheduled")) == 1


async def test_a_batch_mixing_disputes_and_their_updates_applies_them_in_order(deadline):
    first, second = new_dispute_id(), new_dispute_id()
    outcomes = await deadline.deliver_events(
        received(first), updated(first, respond_by="2026-12-03"), received(second), submitted(second)
    )
    assert outcomes == ["handled"] * 4
    assert ((await deadline.row(first)).version, (await deadline.row(second)).state) == (2, "submitted")
    assert [e.data.rule for e in await deadline.events(first)] == ["computed", "explicit"]


def test_reminder_offsets_are_whole_minutes():
    assert Settings(reminder_offsets=("2d", "90m")).offsets == (timedelta(days=2), timedelta(minutes=90))
    for bad in (("30s",), ("1h30s",), ("soon",)):
        with pytest.raises(ValueError):
            Settings(reminder_offsets=bad)


async def test_a_missed_case_given_a_later_date_reopens_and_one_still_past_stays_missed(deadline):
    reopened, still_past = new_dispute_id(), new_dispute_id()
    await deadline.deliver_events(received(reopened), received(still_past))
    deadline.clock.set(DUE + timedelta(days=2))
    await deadline.tick()
    await deadline.events()
    await deadline.deliver_events(
        updated(reopened, respond_by="2026-12-04"), updated(still_past, respond_by="2026-11-27")
    )
    assert (await deadline.row(reopened)).state == "open"
    row = await deadline.row(still_past)
    assert (row.state, row.version, row.missed_at) == ("missed", 2, DUE + timedelta(days=2))
    await deadline.tick()
    assert await deadline.events(still_past, "deadline.alerted") == []  # missed is not said twice
