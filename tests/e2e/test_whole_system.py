"""End to end through the five services and the portal simulator, each its own process (issue 20.1).

A seller is onboarded; a signed two-dispute notice arrives; evidence is uploaded (a clean package, a
defective one); the reports come back `ready` and `needs_fix`; the clean case is submitted and the
simulator's verdict comes back; then every process's clock is moved (DD_CLOCK_SHIFT_FILE) past the
open case's first reminder, and the reminder fires once. A webhook sink receives every notification.
Both cases' timelines, statuses, deadlines and the fee statement are then read through the APIs.

The steps are the demo's (deploy/demo.py), driven one by one so the test can look between them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from deploy.demo import (
    CLEAN,
    DECIDED,
    DEFECTIVE,
    Demo,
    Sink,
    new_secret,
    upload_clean_package,
    upload_defective_package,
    wait_for,
)
from shared.clock import ShiftedClock
from shared.settings import ServiceSettings
from tests.infra import REPO
from tests.system import RunningSystem, start_system, system_ports

WAIT_S = 60.0


@pytest.fixture(scope="module")
def shifted(infra, kafka):
    """A system of this module's own, whose clock the test moves (the session's one keeps real time)."""
    shift_file = REPO / ".local" / "test" / "whole" / "clock-shift"
    shift_file.parent.mkdir(parents=True, exist_ok=True)
    ShiftedClock.write(shift_file, timedelta())
    system = start_system(
        infra,
        ports=system_ports(shift=300),
        name="whole",
        DD_CLOCK_SHIFT_FILE=str(shift_file),
        DD_DEADLINE_SCHEDULER_MAX_SLEEP_S="1",  # a moved clock is seen within a second
    )
    try:
        yield system, shift_file
    finally:
        system.stop()


def test_two_disputes_from_notice_to_verdict_and_reminder(shifted: tuple[RunningSystem, object]) -> None:
    system, shift_file = shifted
    seller_id = "VE2E01"
    with httpx.Client(timeout=15) as client:
        demo = Demo(system.ports, seller_id, WAIT_S, client, ServiceSettings().auth_secret)
        demo.check_up()
        secret, token = demo.onboard()
        plan = {
            "tier": "pro",
            "base_fee": "99000",
            "case_fee_domestic": "8000",
            "case_fee_international": "15000",
            "commission_rate": "0.04",
            "commission_cap": "200000",
            "currency": "KRW",  # the disputes' own: the statement needs no exchange rate
        }
        plan_url = system.url("ingest") + f"/v1/sellers/{seller_id}/plan"
        set_plan = client.put(plan_url, json=plan, headers=demo.operator())
        assert set_plan.status_code == 200, set_plan.text
        sink = Sink(new_secret())
        sink.start()
        try:
            demo.set_preferences(token, sink)
            ids, shift = demo.post_notice(secret)
            clean, defective = ids[CLEAN], ids[DEFECTIVE]

            clean_items = upload_clean_package(demo, token, clean, shift)
            defective_items = upload_defective_package(demo, token, defective, shift)
            assert demo.report(token, clean, clean_items)["status"] == "ready"
            defective_report = demo.report(token, defective, defective_items)
            assert defective_report["status"] == "needs_fix"
            assert {f["rule"] for f in defective_report["findings"]} & {
                "message_source_not_accepted",
                "carrier_not_accepted",
            }, defective_report["findings"]

            # The clean case: submitted, receipted, decided by the simulator.
            receipt = demo.submit(token, demo.case(token, clean))
            assert receipt["state"] in ("receipted", "decided") and receipt.get("receipt_id")

            def decided() -> dict | None:
                case = demo.case(token, clean)
                return case if case["status"] in DECIDED and case.get("verdict") else None

            won = wait_for(f"the verdict of {clean}", decided, timeout_s=WAIT_S)
            assert won["verdict"]["summary_zh"]

            # Until the clock moves, every notification verifies with the channel's secret (afterwards the
            # sink, on real time, refuses their shifted timestamps, as a receiver must: they still arrive).
            def verdict_notified() -> list | None:
                got = sink.snapshot()
                return got if any(r.type == "verdict.returned" for r in got) else None

            before_shift = wait_for(f"the verdict.returned notification of {clean}", verdict_notified, timeout_s=WAIT_S)
            assert all(r.verified for r in before_shift), [(r.type, r.verified) for r in before_shift]

            # Every process's clock past the open case's first reminder: it fires, once.
            headers = demo.seller(token)
            deadline = client.get(system.url("deadline") + f"/v1/deadlines/{defective}", headers=headers).json()
            assert deadline["state"] == "open" and deadline["reminders"], deadline
            first = min(deadline["reminders"], key=lambda r: r["fire_at"])
            fire_at = datetime.fromisoformat(first["fire_at"])
            ShiftedClock.write(shift_file, fire_at - datetime.now(UTC) + timedelta(minutes=1))

            def alerted() -> list | None:
                got = [r for r in sink.snapshot() if r.type == "deadline.alerted" and r.dispute_id == defective]
                return got or None

            wait_for(f"the first reminder of {defective} at the sink", alerted, timeout_s=WAIT_S)
            after = client.get(system.url("deadline") + f"/v1/deadlines/{defective}", headers=headers).json()
            fired = [r for r in after["reminders"] if r["state"] == "fired"]
            assert [r["offset"] for r in fired] == [first["offset"]], after["reminders"]

            # What the sink received: each notification once (the sink keeps one per webhook-id).
            received = sink.snapshot()
            by_type = {(r.type, r.dispute_id) for r in received}
            for wanted in [
                ("dispute.received", clean),
                ("dispute.received", defective),
                ("case.submitted", clean),
                ("verdict.returned", clean),
                ("deadline.alerted", defective),
            ]:
                assert wanted in by_type, (wanted, sorted(by_type, key=str))
            assert len([r for r in received if r.type == "deadline.alerted" and r.dispute_id == defective]) == 1
        finally:
            sink.stop()

        # Both cases, as the seller sees them.
        clean_case, open_case = demo.case(token, clean), demo.case(token, defective)
        assert clean_case["status"] in DECIDED and open_case["status"] not in DECIDED
        clean_events = [entry["type"] for entry in clean_case["timeline"]]
        for event in ("dispute.received", "deadline.scheduled", "case.submitted", "verdict.returned"):
            assert event in clean_events, clean_events
        assert "deadline.alerted" in [entry["type"] for entry in open_case["timeline"]]
        for dispute_id in (clean, defective):
            due = client.get(system.url("deadline") + f"/v1/deadlines/{dispute_id}", headers=headers).json()
            assert due["due_at"] and due["business_days"] > 0

        month = datetime.now(UTC).strftime("%Y-%m")
        statement = client.get(
            system.url("ingest") + f"/v1/sellers/{seller_id}/statement", params={"month": month}, headers=headers
        ).json()
        billed = {line["dispute_id"] for line in statement["lines"]} - {None}  # None: the month's base fee
        assert billed == {clean}, statement  # a case is billed once decided; the open one is not yet
        assert Decimal(statement["total"]) == sum(Decimal(line["amount"]) for line in statement["lines"])
