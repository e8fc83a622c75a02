"""The checks before a submission (SPEC section 8): pure, of the case's facts, its latest report and `now`.

`check(...)` returns what may be packaged (`Cleared`: the report and its exact evidence set) or
raises the first refusal, in this order, so the answer names what the seller can act on first:

1. `case_mismatch` (422): the dispute id, order id or amount the seller confirmed is not the case's;
2. `case_closed` (409): the case was accepted or closed;
3. `already_submitted` (409): a submission exists (the same `Idempotency-Key` is answered before this);
4. `deadline_passed` (409): `now` is past the deadline (a case with no deadline yet is not refused:
   the portal, not us, has the last word, and refusing would only lose the seller time);
5. `evidence_not_ready` (409): no report, the latest is `needs_fix`, it checked no evidence, or the
   seller confirmed an older report than the latest (the set changed since they looked).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Literal

from services.submit.errors import AlreadySubmitted, CaseClosed, CaseMismatch, DeadlinePassed, EvidenceNotReady
from shared.contracts.events import EvidenceRef, Finding, Money


@dataclass(frozen=True)
class CaseFacts:
    """What `dispute.received` / `dispute.updated` said about the case, as kept by the service."""

    dispute_id: str
    seller_id: str
    order_id: str
    amount: Money
    reason_code: str
    closed: Literal["accepted", "closed"] | None = None


@dataclass(frozen=True)
class Report:
    """The latest `evidence.validated` of the case: its status and the exact set it checked."""

    report_id: uuid.UUID
    status: Literal["ready", "needs_fix"]
    evidence_set: tuple[EvidenceRef, ...]
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class Confirmation:
    """What the seller confirms in the submit request; `report_id` pins the report they looked at."""

    dispute_id: str
    order_id: str
    amount: Money
    report_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Cleared:
    """A case that passed preflight: package exactly this report's set."""

    case: CaseFacts
    report: Report

    @property
    def files(self) -> tuple[EvidenceRef, ...]:
        """The items with a file (a sha256), the ones the package fetches and checks."""
        return tuple(ref for ref in self.report.evidence_set if ref.sha256 is not None)

    @property
    def records(self) -> tuple[EvidenceRef, ...]:
        """The structured items without a file: packed as their meta (evidence_files.py)."""
        return tuple(ref for ref in self.report.evidence_set if ref.sha256 is None)


def _same_amount(a: Money, b: Money) -> bool:
    try:
        return a.currency == b.currency and Decimal(a.value) == Decimal(b.value)
    except InvalidOperation:  # pragma: no cover - Money's pattern admits only decimals
        return False


def check(
    case: CaseFacts,
    report: Report | None,
    *,
    due_at: datetime | None,
    submitted: bool,
    confirmation: Confirmation,
    now: datetime,
) -> Cleared:
    """The preflight of SPEC section 8; raises the first refusal (see the module docstring)."""
    mismatched = [
        name
        for name, ok in (
            ("dispute_id", confirmation.dispute_id == case.dispute_id),
            ("order_id", confirmation.order_id == case.order_id),
            ("amount", _same_amount(confirmation.amount, case.amount)),
        )
        if not ok
    ]
    if mismatched:
        raise CaseMismatch(f"These do not match the case: {', '.join(mismatched)}.", fields=mismatched)
    if case.closed is not None:
        raise CaseClosed(f"The case was {case.closed}: there is nothing to submit.", change=case.closed)
    if submitted:
        raise AlreadySubmitted("The case was already submitted.")
    if due_at is not None and now > due_at:
        raise DeadlinePassed("The answer deadline has passed.", due_at=due_at.isoformat())
    if report is None:
        raise EvidenceNotReady("The evidence has not been checked yet.")
    if report.status != "ready":
        blockers = sorted({f.rule for f in report.findings if f.severity == "blocker"})
        raise EvidenceNotReady("The latest report needs fixes.", report_id=str(report.report_id), rules=blockers)
    if confirmation.report_id is not None and confirmation.report_id != report.report_id:
        raise EvidenceNotReady(
            "The evidence changed since the report you confirmed: check the latest one.",
            report_id=str(report.report_id),
        )
    cleared = Cleared(case, report)
    if not report.evidence_set:
        raise EvidenceNotReady("The report checked no evidence to submit.", report_id=str(report.report_id))
    return cleared
