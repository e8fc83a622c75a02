"""Preflight: each refusal with its code, in the order the seller can act on, and what a clear case packs."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.submit import preflight
from services.submit.errors import (
    ERRORS,
    AlreadySubmitted,
    CaseClosed,
    CaseMismatch,
    DeadlinePassed,
    EvidenceNotReady,
)
from shared.contracts.events import EvidenceKind, EvidenceRef, Finding, Money

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
REPORT_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
CASE = preflight.CaseFacts("D-1", "V1", "O-7", Money(value="39000", currency="KRW"), "NOT_RECEIVED")
SET = (
    EvidenceRef(evidence_id=uuid.uuid4(), kind=EvidenceKind.tracking_record, sha256="a" * 64),
    EvidenceRef(evidence_id=uuid.uuid4(), kind=EvidenceKind.message_log),  # structured, no file
)
READY = preflight.Report(REPORT_ID, "ready", SET)
OK = preflight.Confirmation("D-1", "O-7", Money(value="39000.00", currency="KRW"), REPORT_ID)


def run(**changes):
    args = {"case": CASE, "report": READY, "due_at": NOW + timedelta(days=1), "submitted": False, "confirmation": OK}
    args.update(changes)
    return preflight.check(args.pop("case"), args.pop("report"), now=NOW, **args)


def test_a_ready_case_is_cleared_with_the_files_of_the_checked_set():
    cleared = run()
    assert cleared.report is READY and cleared.files == SET[:1]


def test_an_equal_amount_written_otherwise_agrees():
    run(confirmation=replace(OK, amount=Money(value="39000.0", currency="KRW")))


@pytest.mark.parametrize(
    ("confirmation", "fields"),
    [
        (replace(OK, dispute_id="D-2"), ["dispute_id"]),
        (replace(OK, order_id="O-8"), ["order_id"]),
        (replace(OK, amount=Money(value="39001", currency="KRW")), ["amount"]),
        (replace(OK, amount=Money(value="39000", currency="USD")), ["amount"]),
        (replace(OK, order_id="O-8", amount=Money(value="1", currency="KRW")), ["order_id", "amount"]),
    ],
)
def test_a_confirmation_that_does_not_match_the_case_is_case_mismatch(confirmation, fields):
    with pytest.raises(CaseMismatch) as refused:
        run(confirmation=confirmation)
    assert refused.value.data["fields"] == fields


@pytest.mark.parametrize("change", ["accepted", "closed"])
def test_an_accepted_or_closed_case_is_case_closed(change):
    with pytest.raises(CaseClosed):
        run(case=replace(CASE, closed=change))


def test_a_submitted_case_is_already_submitted():
    with pytest.raises(AlreadySubmitted):
        run(submitted=True)


def test_after_the_deadline_is_deadline_passed_and_at_it_is_still_in_time():
    with pytest.raises(DeadlinePassed):
        run(due_at=NOW - timedelta(seconds=1))
    run(due_at=NOW)


def test_a_case_with_no_deadline_yet_is_not_refused():
    run(due_at=None)


def test_no_report_is_evidence_not_ready():
    with pytest.raises(EvidenceNotReady):
        run(report=None)


def test_a_needs_fix_report_is_evidence_not_ready_naming_its_blockers():
    findings = (
        Finding(rule="carrier_not_accepted", severity="blocker"),
        Finding(rule="glossary_mismatch", severity="warning"),
    )
    with pytest.raises(EvidenceNotReady) as refused:
        run(report=replace(READY, status="needs_fix", findings=findings))
    assert refused.value.data["rules"] == ["carrier_not_accepted"]


def test_confirming_an_older_report_than_the_latest_is_evidence_not_ready():
    with pytest.raises(EvidenceNotReady):
        run(confirmation=replace(OK, report_id=uuid.uuid4()))
    run(confirmation=replace(OK, report_id=None))  # not pinned: the latest is what is packed


def test_a_report_that_checked_no_evidence_is_evidence_not_ready():
    with pytest.raises(EvidenceNotReady):
        run(report=replace(READY, evidence_set=()))


def test_a_ready_set_of_structured_items_only_is_cleared_to_pack_as_records():
    cleared = run(report=replace(READY, evidence_set=SET[1:]))
    assert cleared.files == () and cleared.records == SET[1:]


def test_the_first_refusal_wins_in_the_documented_order():
    late_closed_mismatch = {
        "case": replace(CASE, closed="closed"),
        "report": None,
        "due_at": NOW - timedelta(days=1),
        "submitted": True,
    }
    with pytest.raises(CaseMismatch):
        run(**late_closed_mismatch, confirmation=replace(OK, order_id="x"))
    with pytest.raises(CaseClosed):
        run(**late_closed_mismatch)
    with pytest.raises(AlreadySubmitted):
        run(**{**late_closed_mismatch, "case": CASE})
    with pytest.raises(DeadlinePassed):
        run(**{**late_closed_mismatch, "case": CASE, "submitted": False})


@pytest.mark.parametrize(
    ("error", "status"),
    [(EvidenceNotReady, 409), (DeadlinePassed, 409), (CaseClosed, 409), (AlreadySubmitted, 409), (CaseMismatch, 422)],
)
def test_each_refusal_answers_its_status_with_its_code(error, status):
    assert ERRORS[error].status == status and ERRORS[error].code == error.code
