"""The case status machine (SPEC section 4): status only moves forward.

    received -> evidence_pending -> needs_fix | ready -> submitted -> won | lost | partial
    or accepted (the seller concedes) or expired (deadline passed unsubmitted)

`needs_fix` and `ready` are one stage: a newer diagnostic report may switch between them, an
older one may not. A fact that would move a case back is still recorded in its timeline by
the caller; this module only says whether the status changes.
"""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    received = "received"
    evidence_pending = "evidence_pending"
    needs_fix = "needs_fix"
    ready = "ready"
    submitted = "submitted"
    won = "won"
    lost = "lost"
    partial = "partial"
    accepted = "accepted"
    expired = "expired"


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
