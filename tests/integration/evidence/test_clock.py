"""The process context's clock is the one evidence reads: routes stamp with it, the debounced
checker's due time is counted on it, so a test moves time instead of sleeping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import services.evidence.main
from services.evidence import models, runs
from services.evidence.context import EvidenceContext
from shared.clock import ManualClock
from tests.harness import service_harness

from .conftest import Evidence, sample

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


@pytest.fixture
async def timed(infra, tmp_path) -> AsyncIterator[Evidence]:
    async with service_harness(
        infra,
        services.evidence.main,
        harness=Evidence,
        blob_root=tmp_path,
        check_debounce_ms=60_000,
        check_max_wait_ms=600_000,
        clock=ManualClock(T0),
    ) as harness:
        harness.blob_root = tmp_path
        yield harness


async def test_routes_and_the_checker_read_the_context_clock(timed: Evidence):
    context = timed.context
    assert isinstance(context, EvidenceContext) and isinstance(context.clock, ManualClock)
    clock = context.clock
    seller, dispute = await timed.new_case()
    answer = await timed.upload(dispute, seller, sample("pod_complete"), as_json=True)
    assert answer.status_code == 201, answer.text
    assert datetime.fromisoformat(answer.json()["uploaded_at"]) == T0  # the route's time is the clock's

    c = models.cases
    assert await timed.scalar(select(c.c.check_due_at).where(c.c.dispute_id == dispute)) == T0 + timedelta(minutes=1)
    retry = timedelta(seconds=30)
    clock.advance(timedelta(seconds=59))  # a minute of debounce, counted on the clock: not due yet
    assert not await runs.run_due_check(timed.sessions, retry=retry, clock=clock)
    assert "evidence.validated" not in await timed.outbox_types(dispute)
    clock.advance(timedelta(seconds=1))  # now it is
    assert await runs.run_due_check(timed.sessions, retry=retry, clock=clock)
    assert (await timed.outbox_types(dispute))[-1] == "evidence.validated"
    report = await timed.client.get(f"/v1/cases/{dispute}/report", headers=timed.seller_headers(seller))
    assert report.json()["trigger"] == "debounce"
