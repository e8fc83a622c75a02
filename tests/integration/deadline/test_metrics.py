"""The scheduler's metrics: reminders due (at each scrape) and fired, skipped and missed (once committed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.deadline.conftest import new_dispute_id, received
from tests.scrape import scrape

DUE = datetime(2026, 11, 26, 14, 59, 59, tzinfo=UTC)  # Thu 23:59:59 KST: 3 business days after Mon 23 Nov


async def test_due_reminders_show_until_the_scheduler_fires_them_then_count_as_fired(deadline):
    dispute = new_dispute_id()
    await deadline.deliver_events(received(dispute))
    calm = await scrape(deadline.client)
    assert calm.value("dd_deadline_reminders_due") == 0
    assert calm.value("dd_deadline_reminders_due_oldest_age_seconds") == 0

    deadline.clock.set(DUE - timedelta(hours=23))  # the 72 h and the 24 h reminders are due, not fired yet
    behind = await scrape(deadline.client)
    assert behind.value("dd_deadline_reminders_due") == 2
    assert behind.value("dd_deadline_reminders_due_oldest_age_seconds") == timedelta(hours=49).total_seconds()

    await deadline.tick()  # the latest (24 h) fires, the stale 72 h one is skipped
    caught_up = await scrape(deadline.client)
    assert caught_up.value("dd_deadline_reminders_due") == 0
    assert (
        caught_up.value("dd_deadline_reminders_fired_total", offset="24h")
        - behind.value("dd_deadline_reminders_fired_total", offset="24h")
        == 1
    )
    assert (
        caught_up.value("dd_deadline_reminders_skipped_total") - behind.value("dd_deadline_reminders_skipped_total")
        == 1
    )

    deadline.clock.set(DUE + timedelta(minutes=1))
    await deadline.tick()
    missed = await scrape(deadline.client)
    assert (
        missed.value("dd_deadline_deadlines_missed_total") - caught_up.value("dd_deadline_deadlines_missed_total") == 1
    )
    assert missed.value("dd_deadline_reminders_fired_total", offset="6h") == 0  # past due: never fired late
