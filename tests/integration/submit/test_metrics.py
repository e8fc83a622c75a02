"""Submit's metrics: cases at risk (due within 6 h, report not ready, not submitted) at each scrape,
submissions and verdicts once their transaction commits."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.integration.submit.conftest import Submit
from tests.scrape import scrape


async def test_a_case_due_within_six_hours_without_a_ready_report_is_at_risk(submit: Submit) -> None:
    calm = await scrape(submit.client)
    assert calm.value("dd_submit_cases_at_risk") == 0

    await submit.new_case(status="needs_fix", due_in=timedelta(hours=3))  # at risk
    await submit.new_case(status="ready", due_in=timedelta(hours=3))  # ready: the seller can submit
    await submit.new_case(status="needs_fix", due_in=timedelta(days=2))  # not yet within 6 h
    risky = await scrape(submit.client)
    assert risky.value("dd_submit_cases_at_risk", report="needs_fix") == 1
    assert risky.value("dd_submit_cases_at_risk", report="none") == 0

    submit.clock.advance(timedelta(hours=4))  # past the first's deadline: missed, no longer "at risk"
    try:
        assert (await scrape(submit.client)).value("dd_submit_cases_at_risk") == 0
    finally:
        submit.clock.advance(-timedelta(hours=4))


async def test_a_receipted_submission_and_its_verdict_are_counted(submit: Submit) -> None:
    before = await scrape(submit.client)
    seller, dispute = await submit.new_case()
    assert (await submit.submit(dispute, seller)).status_code == 201
    for _ in range(100):  # the simulator's callback, 0.2 s later
        if await submit.events_of(dispute, "verdict.returned"):
            break
        await asyncio.sleep(0.05)
    after = await scrape(submit.client)
    moved = lambda name, **labels: after.value(name, **labels) - before.value(name, **labels)  # noqa: E731
    assert moved("dd_submit_submissions_total", adapter="http", outcome="receipted") == 1
    assert moved("dd_submit_verdicts_total", outcome="won", source="callback") == 1
