"""The case status machine (SPEC section 4): status only moves forward.

    received -> evidence_pending -> needs_fix | ready -> submitted -> won | lost | partial
    or accepted (the seller concedes) or expired (deadline passed unsubmitted)

`needs_fix` and `ready` are one stage: a newer diagnostic report may switch between them, an
older one may not. A fact that would move a case back is still recorded in its timeline by
the caller; this module only says whether the status changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.contracts import CaseStatus  # one list of statuses: the contract's

# Stage of each status; a move is allowed only to a later stage (or, within the evidence
# stage, between needs_fix and ready).
_STAGE: dict[CaseStatus, int] = {
    CaseStatus.received: 0,
    CaseStatus.evidence_pending: 1,
    CaseStatus.needs_fix: 2,
    CaseStatus.ready: 2,
    # A missed deadline ends the seller's part of the case, like a submission does; the
    # portal may still return a verdict on either.
    CaseStatus.expired: 3,
    CaseStatus.submitted: 3,
    CaseStatus.won: 4,
    CaseStatus.lost: 4,
    CaseStatus.partial: 4,
    CaseStatus.accepted: 4,
}

DECIDED: frozenset[CaseStatus] = frozenset({CaseStatus.won, CaseStatus.lost, CaseStatus.partial, CaseStatus.accepted})
OPEN: frozenset[CaseStatus] = frozenset(
    {CaseStatus.received, CaseStatus.evidence_pending, CaseStatus.needs_fix, CaseStatus.ready}
)


def advance(current: CaseStatus, proposed: CaseStatus) -> CaseStatus:
    """The status after a fact proposing `proposed`: `proposed` if that is forward, else `current`."""
    if current in DECIDED:
        return current
    if _STAGE[proposed] > _STAGE[current]:
        return proposed
    if _STAGE[proposed] == _STAGE[current] == _STAGE[CaseStatus.ready]:
        return proposed  # a newer report (the caller checks it is newer) may switch needs_fix/ready
    return current


def can_accept(current: CaseStatus) -> bool:
    """A seller may concede a case until it is submitted, expired or decided."""
    return current in OPEN


def urgency(status: CaseStatus) -> int:
    """Sort rank on the dashboard: cases the seller can still act on (0) before the rest (1)."""
    return 0 if status in OPEN else 1


def proposed_by(event_type: str, data: Mapping[str, Any]) -> CaseStatus | None:
    """The status a fact (an event type and its data) proposes, or None when it proposes none.

    `advance` then decides whether the case moves; a newer-report check for
    `evidence.validated` is the caller's (it knows the current report's time).
    """
    if event_type == "evidence.uploaded":
        return CaseStatus.evidence_pending
    if event_type == "evidence.validated":
        return CaseStatus(data["status"])  # ready | needs_fix
    if event_type == "deadline.alerted":
        return CaseStatus.expired if data.get("alert") == "missed" else None
    if event_type == "case.submitted":
        return CaseStatus.submitted
    if event_type == "verdict.returned":
        return CaseStatus(data["outcome"])
    if event_type == "dispute.updated":
        if data.get("change") == "accepted":
            return CaseStatus.accepted
        if data.get("change") == "closed":
            return CaseStatus(data["outcome"])
    return None  # dispute.received, deadline.scheduled, a reminder, an update of fields
