"""The chaos drill's counting (bench/chaos_system.py `count`): it passes a whole run and reports every
planted loss and duplicate under the check it belongs to, so `make chaos` and its short form can fail."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from bench.chaos_system import SERVICES, Ledger, Observed, SinkHit, count, fact_of, failed, missing
from shared.contracts import topics
from shared.kafka.dlq import DeadLetter

A, B = "CH-T-000001", "CH-T-000002"  # both accepted; B submitted, and its 1440 min reminder fired


def _id() -> str:
    return str(uuid.uuid4())


def whole_run() -> tuple[Ledger, Observed]:
    ledger = Ledger("CH-T-", "VCHTEST")
    ledger.accepted = {A, B}
    ledger.submitted = {B}
    seen = Observed()
    for service in SERVICES:
        seen.cases[service] = Counter({A: 1, B: 1})
    seen.deadline_versions = {A: {1}, B: {1}}
    seen.schedules = {A: {1}, B: {1}}
    seen.fired[(B, 1440)] = 1
    seen.submissions[B] = 1
    seen.verdicts[B] = 1
    facts = {
        (topics.DISPUTE_RECEIVED, A): f"{topics.DISPUTE_RECEIVED} {A}",
        (topics.DISPUTE_RECEIVED, B): f"{topics.DISPUTE_RECEIVED} {B}",
        (topics.DEADLINE_SCHEDULED, A): None,
        (topics.DEADLINE_SCHEDULED, B): None,
        (topics.DEADLINE_ALERTED, B): f"{topics.DEADLINE_ALERTED} {B} reminder@1440",
        (topics.CASE_SUBMITTED, B): f"{topics.CASE_SUBMITTED} {B}",
        (topics.VERDICT_RETURNED, B): f"{topics.VERDICT_RETURNED} {B}",
    }
    for (kind, dispute), fact in facts.items():
        event_id = _id()
        seen.events[kind][dispute].append(event_id)
        if kind == topics.DEADLINE_ALERTED:
            seen.alerts[(dispute, "1440m")].append(event_id)
        if fact is not None:  # a kind the seller is notified of: one notification, delivered, at the sink
            webhook_id = _id()
            seen.notifications[webhook_id] = (event_id, kind, dispute, "delivered")
            seen.sink.append(SinkHit(webhook_id, kind, dispute, fact))
    return ledger, seen


def _failing(ledger: Ledger, seen: Observed) -> dict[str, tuple[int, int]]:
    return {c.check: (c.lost, c.duplicated) for c in failed(count(ledger, seen))}


def test_a_whole_run_passes_every_check():
    ledger, seen = whole_run()
    counts = count(ledger, seen)
    assert failed(counts) == [] and missing(counts) == ""
    assert {c.check for c in counts} >= {"case at ingest", "reminders fired, each once", "notification delivered"}
    assert all(c.expected == c.found for c in counts)


def test_a_redelivery_with_the_same_ids_is_no_duplicate():
    ledger, seen = whole_run()
    seen.events[topics.DISPUTE_RECEIVED][A].append(seen.events[topics.DISPUTE_RECEIVED][A][0])  # relayed twice
    seen.sink.append(seen.sink[0])  # the sink answered late: delivered again, same webhook-id
    counts = count(ledger, seen)
    assert failed(counts) == []
    assert "1 redelivered with the same webhook-id" in {c.note for c in counts}


def test_a_lost_case_is_reported_and_named_while_draining():
    ledger, seen = whole_run()
    del seen.cases["deadline"][A]
    assert _failing(ledger, seen) == {"case at deadline": (1, 0)}
    assert missing(count(ledger, seen)) == f"case at deadline: 1 of 2 missing (e.g. {A})"


@pytest.mark.parametrize(
    ("plant", "check", "lost", "duplicated"),
    [
        (lambda s: s.events[topics.DISPUTE_RECEIVED][A].append(_id()), "dispute.received (distinct ids)", 0, 1),
        (lambda s: s.deadline_versions.update({A: {2}}), "deadline (one row, version 1)", 0, 1),
        (lambda s: s.schedules.update({A: {1, 2}}), "reminder schedule", 0, 1),
        (lambda s: s.events[topics.DEADLINE_SCHEDULED][B].append(_id()), "deadline.scheduled (distinct ids)", 0, 1),
        (lambda s: s.fired.update({(B, 1440): 1}), "reminders fired, each once", 0, 1),  # a second fired row
        (lambda s: s.alerts[(B, "1440m")].append(_id()), "reminders fired, each once", 0, 1),
        (lambda s: s.alerts[(A, "360m")].append(_id()), "reminders fired, each once", 0, 1),  # fired, row pending
        (lambda s: s.alerts.pop((B, "1440m")), "reminders fired, each once", 1, 0),
        (lambda s: s.submissions.pop(B), "submission with a receipt", 1, 0),
        (lambda s: s.events[topics.CASE_SUBMITTED][B].append(_id()), "case.submitted (distinct ids)", 0, 1),
        (lambda s: s.verdicts.update({B: 1}), "verdict stored", 0, 1),
        (lambda s: s.events[topics.VERDICT_RETURNED].pop(B), "verdict.returned (distinct ids)", 1, 0),
        (lambda s: s.submissions.update({A: 1}), "submission nobody asked for", 0, 1),
    ],
)
def test_a_planted_loss_or_duplicate_fails_its_check(plant, check, lost, duplicated):
    ledger, seen = whole_run()
    plant(seen)
    failing = _failing(ledger, seen)
    assert failing.get(check) == (lost, duplicated), failing


def test_notifications_lost_undelivered_or_told_twice_under_another_webhook_id():
    ledger, seen = whole_run()
    verdict_event = seen.events[topics.VERDICT_RETURNED][B][0]
    (nid,) = [n for n, row in seen.notifications.items() if row[0] == verdict_event]
    del seen.notifications[nid]
    seen.sink = [h for h in seen.sink if h.webhook_id != nid]
    assert _failing(ledger, seen) == {"notification per event": (1, 0)}

    ledger, seen = whole_run()
    nid, row = next(iter(seen.notifications.items()))
    seen.notifications[nid] = (*row[:3], "dead")
    assert _failing(ledger, seen) == {"notification delivered": (1, 0)}

    ledger, seen = whole_run()
    first = seen.sink[0]
    seen.sink = seen.sink[1:]
    assert _failing(ledger, seen) == {"at the sink (facts told twice: other webhook-id)": (1, 0)}
    seen.sink += [first, SinkHit(_id(), first.type, first.dispute_id, first.fact)]  # told again, new id
    assert _failing(ledger, seen) == {"at the sink (facts told twice: other webhook-id)": (0, 1)}


def test_a_dead_letter_of_the_run_fails():
    ledger, seen = whole_run()
    seen.dead_letters.append(DeadLetter("deadline.scheduled.dlq", 0, 7, A, {"dd-error": "KeyError: x"}, b"{}"))
    assert _failing(ledger, seen) == {"dead letters (none explained)": (1, 0)}


def test_a_sink_message_tells_its_fact_by_type_case_report_and_reminder():
    def body(kind: str, **data: object) -> bytes:
        return json.dumps({"type": kind, "data": {"dispute_id": A, **data}}).encode()

    assert fact_of(body("dispute.received")).fact == f"dispute.received {A}"
    assert fact_of(body("evidence.validated", report_id="r-1")).fact == f"evidence.validated {A} r-1"
    alerted = fact_of(body("deadline.alerted", alert="reminder", offset_minutes=60))
    assert alerted.fact == f"deadline.alerted {A} reminder@60"
    assert fact_of(b"not json") is None


def test_a_submission_whose_answer_never_came_counts_as_submitted_and_must_be_whole():
    ledger, seen = whole_run()
    ledger.submitted, ledger.asked = set(), {B}  # submit was called; its answer was lost in a fault
    assert failed(count(ledger, seen)) == []
    seen.verdicts.pop(B)
    assert _failing(ledger, seen) == {"verdict stored": (1, 0)}
    ledger, seen = whole_run()
    ledger.asked = {B}
    ledger.submitted = set()
    seen.submissions.pop(B)  # asked, never answered, never made: nothing is expected of it
    for kind in (topics.CASE_SUBMITTED, topics.VERDICT_RETURNED):
        seen.events[kind].pop(B)
    seen.verdicts.pop(B)
    seen.notifications = {
        k: v for k, v in seen.notifications.items() if v[1] not in (topics.CASE_SUBMITTED, topics.VERDICT_RETURNED)
    }
    assert failed(count(ledger, seen)) == []


def test_a_case_of_a_notice_whose_answer_never_came_is_noted_not_failed():
    ledger, seen = whole_run()
    seen.cases["ingest"]["CH-T-000009"] = 1
    counts = count(ledger, seen)
    assert failed(counts) == [] and counts[0].note == "and 1 of notices whose answer never came"
