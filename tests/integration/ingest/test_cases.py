"""The case read model: facts from every topic keep status (forward only), deadline, report, receipt,
verdict and timeline; the dashboard API lists, shows and accepts cases, each seller only its own."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from services.ingest import models
from services.ingest.main import DEFINITION
from shared.contracts import (
    CaseSubmittedV1,
    DeadlineAlertedV1,
    DeadlineScheduledV1,
    EvidenceUploadedV1,
    EvidenceValidatedV1,
    Finding,
    VerdictReturnedV1,
    new_event,
    parse_event,
)
from shared.db.session import session_scope
from tests.integration.ingest.conftest import Ingest, deliver_event, dispute, notice

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


async def open_case(
    ingest: Ingest, seller_id: str | None = None, secret: str | None = None, **fields
) -> tuple[str, str]:
    if seller_id is None:
        seller_id, secret = await ingest.onboard()
    item = dispute(**fields)
    answer = await ingest.deliver(seller_id, secret, notice(item))
    assert answer.json()["results"][0]["result"] == "created", answer.text
    return seller_id, item["dispute_id"]


async def show(ingest: Ingest, seller_id: str, dispute_id: str) -> dict:
    answer = await ingest.client.get(f"/v1/cases/{dispute_id}", headers=ingest.seller(seller_id))
    assert answer.status_code == 200, answer.text
    return answer.json()


def validated(dispute_id: str, status: str, *rules: str) -> EvidenceValidatedV1:
    findings = tuple(Finding(rule=rule, severity="blocker") for rule in rules)
    return EvidenceValidatedV1(
        dispute_id=dispute_id, report_id=uuid.uuid4(), status=status, ruleset_version="2026.11", findings=findings
    )


def scheduled(dispute_id: str, due_at: datetime) -> DeadlineScheduledV1:
    return DeadlineScheduledV1(
        dispute_id=dispute_id, due_at=due_at, business_days=5, rule="computed", reminder_offsets_minutes=(4320, 1440)
    )


async def test_a_case_follows_its_facts_to_a_verdict_with_deadline_report_receipt_and_timeline(ingest: Ingest):
    seller_id, dispute_id = await open_case(ingest)
    due = datetime(2026, 11, 9, 14, 59, 59, tzinfo=UTC)
    await deliver_event(ingest, scheduled(dispute_id, due), at=T0)
    evidence = EvidenceUploadedV1(dispute_id=dispute_id, evidence_id=uuid.uuid4(), kind="tracking_record")
    await deliver_event(ingest, evidence, at=T0 + timedelta(minutes=1))
    assert (await show(ingest, seller_id, dispute_id))["status"] == "evidence_pending"
    await deliver_event(
        ingest, validated(dispute_id, "needs_fix", "carrier_not_accepted"), at=T0 + timedelta(minutes=2)
    )
    case = await show(ingest, seller_id, dispute_id)
    assert case["status"] == "needs_fix"
    assert case["report"]["blockers"] == 1 and case["report"]["rules"] == ["carrier_not_accepted"]
    await deliver_event(ingest, validated(dispute_id, "ready"), at=T0 + timedelta(minutes=3))
    receipt = CaseSubmittedV1(
        dispute_id=dispute_id,
        receipt_id="RCPT-1",
        adapter="http",
        submitted_at=T0 + timedelta(minutes=4),
        package_sha256="a" * 64,
    )
    await deliver_event(ingest, receipt, at=T0 + timedelta(minutes=4))
    verdict = VerdictReturnedV1(dispute_id=dispute_id, outcome="won", policy_clause="4.2", summary_zh="卖家胜诉")
    await deliver_event(ingest, verdict, at=T0 + timedelta(days=3))

    case = await show(ingest, seller_id, dispute_id)
    assert case["status"] == "won" and case["receipt_id"] == "RCPT-1" and case["verdict"]["outcome"] == "won"
    deadline = case["deadline"]
    assert deadline["due_at_kst"].startswith("2026-11-09T23:59:59+09:00")
    assert deadline["due_at_beijing"].startswith("2026-11-09T22:59:59+08:00")
    assert deadline["business_days"] == 5 and isinstance(deadline["seconds_left"], int)
    types = [entry["type"] for entry in case["timeline"]]
    assert types == [
        "dispute.received",
        "deadline.scheduled",
        "evidence.uploaded",
        "evidence.validated",
        "evidence.validated",
        "case.submitted",
        "verdict.returned",
    ]


async def test_status_never_moves_back_when_facts_arrive_out_of_order(ingest: Ingest):
    seller_id, dispute_id = await open_case(ingest)
    verdict = VerdictReturnedV1(dispute_id=dispute_id, outcome="lost")
    await deliver_event(ingest, verdict, at=T0 + timedelta(days=2))
    receipt = CaseSubmittedV1(
        dispute_id=dispute_id, receipt_id="RCPT-9", adapter="manual", submitted_at=T0, package_sha256="b" * 64
    )
    await deliver_event(ingest, receipt, at=T0 + timedelta(days=1))  # earlier fact, later arrival
    await deliver_event(ingest, validated(dispute_id, "ready"), at=T0)
    upload = EvidenceUploadedV1(dispute_id=dispute_id, evidence_id=uuid.uuid4(), kind="invoice")
    await deliver_event(ingest, upload, at=T0)
    missed = DeadlineAlertedV1(dispute_id=dispute_id, alert="missed", due_at=T0, hours_left=0)
    await deliver_event(ingest, missed, at=T0 + timedelta(days=3))

    case = await show(ingest, seller_id, dispute_id)
    assert case["status"] == "lost" and case["receipt_id"] == "RCPT-9"  # the receipt is still recorded
    statuses = [(e["type"], e["status_after"]) for e in case["timeline"]]
    assert all(after == "lost" for kind, after in statuses[2:]), statuses
    assert len(case["timeline"]) == 6  # every fact is in the timeline


async def test_a_second_verdict_does_not_rewrite_a_decided_case(ingest: Ingest):
    seller_id, dispute_id = await open_case(ingest)
    await deliver_event(ingest, VerdictReturnedV1(dispute_id=dispute_id, outcome="won"), at=T0)
    await deliver_event(ingest, VerdictReturnedV1(dispute_id=dispute_id, outcome="lost"), at=T0 + timedelta(days=1))
    case = await show(ingest, seller_id, dispute_id)
    assert case["status"] == "won" and case["verdict"]["outcome"] == "won"
    assert [e["applied"] for e in case["timeline"]] == [True, True, False]


async def test_an_older_report_does_not_replace_a_newer_one(ingest: Ingest):
    seller_id, dispute_id = await open_case(ingest)
    await deliver_event(ingest, validated(dispute_id, "ready"), at=T0 + timedelta(minutes=5))
    await deliver_event(ingest, validated(dispute_id, "needs_fix", "timestamp_missing"), at=T0)
    case = await show(ingest, seller_id, dispute_id)
    assert case["status"] == "ready" and case["report"]["status"] == "ready"
    assert [e["applied"] for e in case["timeline"]] == [True, True, False]


async def test_a_redelivered_event_is_recorded_once(ingest: Ingest):
    seller_id, dispute_id = await open_case(ingest)
    event_id = uuid.uuid4()
    upload = EvidenceUploadedV1(dispute_id=dispute_id, evidence_id=uuid.uuid4(), kind="invoice")
    for _ in range(2):
        await deliver_event(ingest, upload, at=T0, event_id=event_id)
    assert len((await show(ingest, seller_id, dispute_id))["timeline"]) == 2


async def test_a_fact_before_its_case_is_parked_and_applied_when_the_case_arrives(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    item = dispute()
    dispute_id = item["dispute_id"]
    await deliver_event(ingest, scheduled(dispute_id, T0 + timedelta(days=5)), at=T0)
    parked = (
        select(func.count())
        .select_from(models.parked_events_table)
        .where(models.parked_events_table.c.dispute_id == dispute_id)
    )
    assert await ingest.scalar(parked) == 1
    await ingest.deliver(seller_id, secret, notice(item))
    assert await ingest.scalar(parked) == 0
    assert (await show(ingest, seller_id, dispute_id))["deadline"]["business_days"] == 5


async def test_accepting_a_case_concedes_it_once_and_emits_dispute_updated(ingest: Ingest):
    seller_id, dispute_id = await open_case(ingest)
    other, _ = await ingest.onboard()
    assert (await ingest.client.post(f"/v1/cases/{dispute_id}/accept", headers=ingest.seller(other))).status_code == 404
    accepted = await ingest.client.post(f"/v1/cases/{dispute_id}/accept", headers=ingest.seller(seller_id))
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    payload = await ingest.scalar(
        select(models.outbox_table.c.payload).where(
            models.outbox_table.c.key == dispute_id, models.outbox_table.c.topic == "dispute.updated"
        )
    )
    assert json.loads(payload)["data"]["change"] == "accepted"
    again = await ingest.client.post(f"/v1/cases/{dispute_id}/accept", headers=ingest.seller(seller_id))
    assert (again.status_code, again.json()["code"]) == (409, "case_not_open")
    # Its own event coming back from Kafka changes nothing.
    async with session_scope(ingest.sessions) as session:
        await DEFINITION.handlers["dispute.updated/v1"](session, parse_event(payload), ingest.context)
    assert len((await show(ingest, seller_id, dispute_id))["timeline"]) == 2


async def test_a_seller_sees_only_its_own_cases_and_another_sellers_case_is_404(ingest: Ingest):
    mine, dispute_id = await open_case(ingest)
    other, other_case = await open_case(ingest)
    listed = await ingest.client.get("/v1/cases", headers=ingest.seller(mine))
    assert {c["dispute_id"] for c in listed.json()["items"]} == {dispute_id}
    assert (await ingest.client.get(f"/v1/cases/{other_case}", headers=ingest.seller(mine))).json()[
        "code"
    ] == "case_not_found"
    asked = await ingest.client.get("/v1/cases", params={"seller_id": other}, headers=ingest.seller(mine))
    assert asked.status_code == 404
    operator = await ingest.client.get("/v1/cases", params={"seller_id": other}, headers=ingest.operator())
    assert [c["dispute_id"] for c in operator.json()["items"]] == [other_case]
    assert (await ingest.client.get("/v1/cases")).status_code == 401


async def test_cases_list_most_urgent_first_with_filters_and_a_cursor(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    ids = []
    for n, reason in enumerate(["NOT_RECEIVED", "DAMAGED", "NOT_RECEIVED", "OTHER"]):
        _, dispute_id = await open_case(ingest, seller_id, secret, reason_code=reason, order_id=f"30009{n}")
        ids.append(dispute_id)
    # Deadlines: case 2 first, then 0, then 1; case 3 has none yet; case 1 is then decided.
    for index, days in ((0, 4), (1, 2), (2, 1)):
        await deliver_event(ingest, scheduled(ids[index], T0 + timedelta(days=days)), at=T0)
    await deliver_event(ingest, VerdictReturnedV1(dispute_id=ids[1], outcome="won"), at=T0)
    headers = ingest.seller(seller_id)

    pages, cursor = [], None
    for _ in range(5):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await ingest.client.get("/v1/cases", params=params, headers=headers)).json()
        pages.append([c["dispute_id"] for c in page["items"]])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == [[ids[2], ids[0]], [ids[3], ids[1]]]

    async def listed(**params) -> list[str]:
        answer = await ingest.client.get("/v1/cases", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return [c["dispute_id"] for c in answer.json()["items"]]

    assert await listed(reason_code="NOT_RECEIVED") == [ids[2], ids[0]]
    assert await listed(status="won") == [ids[1]]
    assert await listed(status=["received", "won"]) == [ids[2], ids[0], ids[3], ids[1]]
    assert await listed(due_before=(T0 + timedelta(days=3)).isoformat()) == [ids[2], ids[1]]
    assert await listed(q="300093") == [ids[3]]
    assert await listed(q="%") == []
    bad = await ingest.client.get("/v1/cases", params={"cursor": "not-a-cursor"}, headers=headers)
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_cursor")
    naive = await ingest.client.get("/v1/cases", params={"due_before": "2026-11-05T00:00:00"}, headers=headers)
    assert (naive.status_code, naive.json()["code"]) == (422, "validation_error")
    unknown = await ingest.client.get("/v1/cases", params={"status": "closed"}, headers=headers)
    assert unknown.status_code == 422


async def test_a_redelivered_event_is_a_duplicate_and_leaves_one_timeline_entry(ingest: Ingest):
    seller_id, dispute_id = await open_case(ingest)
    event = new_event(scheduled(dispute_id, T0 + timedelta(days=5)), source="deadline", time=T0)
    assert await ingest.deliver_events(event) == ["handled"]
    assert await ingest.deliver_events(event) == ["duplicate"]  # the inbox claim, as in the consumer
    timeline = (await show(ingest, seller_id, dispute_id))["timeline"]
    assert [entry["type"] for entry in timeline].count("deadline.scheduled") == 1


async def test_a_batch_of_dispute_received_records_only_those_ingest_did_not_write_and_frees_their_parked_facts(
    ingest: Ingest,
):
    """`dispute.received` is handled a fetched run at a time: ingest's own come back as no-ops, one
    written elsewhere becomes a case (source `event`) and releases the facts parked for it."""
    seller_id, own_id = await open_case(ingest)
    own = parse_event(
        await ingest.scalar(
            select(models.outbox_table.c.payload).where(
                models.outbox_table.c.key == own_id, models.outbox_table.c.topic == "dispute.received"
            )
        )
    )
    foreign_id = dispute()["dispute_id"]
    await deliver_event(ingest, scheduled(foreign_id, T0 + timedelta(days=5)), at=T0)  # parked: no case yet
    foreign = new_event(
        own.data.model_copy(update={"dispute_id": foreign_id, "notice_id": "N-elsewhere"}),
        source="elsewhere",
        seller_id=seller_id,
        time=T0,
    )
    assert await ingest.deliver_events(own, foreign, own) == ["handled", "handled", "duplicate"]
    assert len((await show(ingest, seller_id, own_id))["timeline"]) == 1
    case = await show(ingest, seller_id, foreign_id)
    assert [entry["type"] for entry in case["timeline"]] == ["dispute.received", "deadline.scheduled"]
    assert case["deadline"]["business_days"] == 5
    sources = select(models.cases.c.source).where(models.cases.c.dispute_id == foreign_id)
    assert await ingest.scalar(sources) == "event"


def missed(dispute_id: str, due_at: datetime) -> DeadlineAlertedV1:
    return DeadlineAlertedV1(dispute_id=dispute_id, alert="missed", due_at=due_at, hours_left=0)


async def test_a_case_left_open_past_its_deadline_expires_through_the_consumers_handler(ingest: Ingest):
    seller_id, dispute_id = await open_case(ingest)
    due = T0 + timedelta(days=5)
    await deliver_event(ingest, scheduled(dispute_id, due), at=T0)
    await deliver_event(ingest, validated(dispute_id, "needs_fix", "carrier_not_accepted"), at=T0 + timedelta(days=1))
    reminder = DeadlineAlertedV1(dispute_id=dispute_id, alert="reminder", due_at=due, hours_left=6)
    event = new_event(reminder, source="deadline", seller_id=seller_id, time=due - timedelta(hours=6))
    alert = new_event(missed(dispute_id, due), source="deadline", seller_id=seller_id, time=due + timedelta(seconds=1))
    # The consumer's own claim-and-handle step (inbox claim + handler in one transaction).
    assert await ingest.deliver_events(event, alert) == ["handled", "handled"]

    case = await show(ingest, seller_id, dispute_id)
    assert case["status"] == "expired" and case["deadline"]["due_at_utc"].startswith("2026-11-07")
    last = case["timeline"][-1]
    assert (last["type"], last["status_before"], last["status_after"], last["applied"]) == (
        "deadline.alerted",
        "needs_fix",
        "expired",
        True,
    )
    assert case["timeline"][-2]["status_after"] == "needs_fix"  # a reminder moves nothing
    assert await ingest.deliver_events(alert) == ["duplicate"]  # redelivered: once
    accept = await ingest.client.post(f"/v1/cases/{dispute_id}/accept", headers=ingest.seller(seller_id))
    assert (accept.status_code, accept.json()["code"]) == (409, "case_not_open")
    listed = await ingest.client.get("/v1/cases", params={"status": "expired"}, headers=ingest.seller(seller_id))
    assert [item["dispute_id"] for item in listed.json()["items"]] == [dispute_id]


async def test_a_missed_alert_does_not_move_a_submitted_or_decided_case_back(ingest: Ingest):
    seller_id, secret = await ingest.onboard()
    _, submitted = await open_case(ingest, seller_id, secret)
    _, decided = await open_case(ingest, seller_id, secret)
    receipt = CaseSubmittedV1(
        dispute_id=submitted, receipt_id="RCPT-1", adapter="manual", submitted_at=T0, package_sha256="c" * 64
    )
    await deliver_event(ingest, receipt, at=T0)
    await deliver_event(ingest, VerdictReturnedV1(dispute_id=decided, outcome="won"), at=T0)
    for dispute_id, status in ((submitted, "submitted"), (decided, "won")):
        await deliver_event(ingest, missed(dispute_id, T0), at=T0 + timedelta(days=1))
        case = await show(ingest, seller_id, dispute_id)
        assert case["status"] == status, dispute_id
        last = case["timeline"][-1]
        assert (last["type"], last["status_after"], last["applied"]) == ("deadline.alerted", status, False)
