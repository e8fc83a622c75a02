"""The process context's clock is the one ingest reads: the webhook's timestamp window is counted
on it, so a test sets the time instead of signing with the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import services.ingest.main
from services.ingest.context import IngestContext
from shared.clock import ManualClock
from tests.harness import service_harness

from .conftest import Ingest, dispute, notice

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # days away from the wall clock of any test run


async def test_the_webhook_window_is_counted_on_the_context_clock(infra):
    clock = ManualClock(T0)
    async with service_harness(infra, services.ingest.main, harness=Ingest, clock=clock) as ingest:
        assert isinstance(ingest.context, IngestContext) and ingest.context.clock is clock
        seller_id, secret = await ingest.onboard()
        accepted = await ingest.deliver(seller_id, secret, notice(dispute()), at=T0)
        assert accepted.status_code == 202, accepted.text  # signed at the clock's time: in the window
        clock.advance(timedelta(minutes=6))  # the same signing time is now out of the 5-minute window
        late = await ingest.deliver(seller_id, secret, notice(dispute()), at=T0)
        assert (late.status_code, late.json()["code"]) == (401, "signature_timestamp_out_of_range")
        on_time = await ingest.deliver(seller_id, secret, notice(dispute()), at=clock.now())
        assert on_time.status_code == 202, on_time.text
