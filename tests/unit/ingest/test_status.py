import pytest

from services.ingest.domain.status import CaseStatus, advance, can_accept, proposed_by, urgency
from services.ingest.domain.status import CaseStatus as S


@pytest.mark.parametrize(
    ("current", "proposed", "expected"),
    [
        (S.received, S.evidence_pending, S.evidence_pending),
        (S.evidence_pending, S.needs_fix, S.needs_fix),
        (S.needs_fix, S.ready, S.ready),  # a newer report after a fix
        (S.ready, S.needs_fix, S.needs_fix),  # a newer report after a bad upload
        (S.ready, S.submitted, S.submitted),
        (S.submitted, S.won, S.won),
        (S.expired, S.lost, S.lost),  # the portal decides an unanswered case
        (S.received, S.accepted, S.accepted),
    ],
)
def test_status_moves_forward(current, proposed, expected):
    assert advance(current, proposed) is expected


@pytest.mark.parametrize(
    ("current", "stale"),
    [
        (S.submitted, S.ready),  # a report that arrives after the submission
        (S.submitted, S.evidence_pending),
        (S.ready, S.evidence_pending),
        (S.needs_fix, S.received),
        (S.won, S.submitted),
        (S.won, S.lost),  # a decided case stays decided
        (S.accepted, S.expired),
        (S.submitted, S.expired),  # a missed alert racing the submission
        (S.expired, S.submitted),
    ],
)
def test_a_stale_fact_never_moves_status_back(current, stale):
    assert advance(current, stale) is current


def test_only_open_cases_can_be_accepted():
    assert can_accept(S.ready) and can_accept(S.received)
    assert not can_accept(S.submitted) and not can_accept(S.won) and not can_accept(S.expired)


# --------------------------------------------------------------------------- facts to statuses


@pytest.mark.parametrize(
    ("event_type", "data", "proposed"),
    [
        ("dispute.received", {}, None),
        ("evidence.uploaded", {}, CaseStatus.evidence_pending),
        ("evidence.validated", {"status": "needs_fix"}, CaseStatus.needs_fix),
        ("evidence.validated", {"status": "ready"}, CaseStatus.ready),
        ("deadline.scheduled", {}, None),
        ("deadline.alerted", {"alert": "reminder"}, None),
        ("deadline.alerted", {"alert": "missed"}, CaseStatus.expired),
        ("case.submitted", {}, CaseStatus.submitted),
        ("verdict.returned", {"outcome": "partial"}, CaseStatus.partial),
        ("dispute.updated", {"change": "updated"}, None),
        ("dispute.updated", {"change": "accepted"}, CaseStatus.accepted),
        ("dispute.updated", {"change": "closed", "outcome": "lost"}, CaseStatus.lost),
    ],
)
def test_each_fact_proposes_its_status(event_type, data, proposed):
    assert proposed_by(event_type, data) == proposed


def test_a_missed_deadline_after_submission_leaves_the_case_submitted():
    assert advance(CaseStatus.submitted, proposed_by("deadline.alerted", {"alert": "missed"})) is CaseStatus.submitted


def test_open_cases_sort_before_the_rest():
    assert urgency(CaseStatus.needs_fix) == 0 and urgency(CaseStatus.expired) == 1 and urgency(CaseStatus.won) == 1
