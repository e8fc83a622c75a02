"""The gap checker: `check(case, items, other_orders_tracking, now) -> Report`. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from services.evidence.checker.context import CheckContext, text_of
from services.evidence.checker.model import CaseFacts, EvidenceItem, EvidenceRef, Report, TrackingRef
from services.evidence.checker.rules import RULES, capture_of
from services.evidence.checker.ruleset import load_ruleset


def check(
    case: CaseFacts,
    items: Sequence[EvidenceItem],
    other_orders_tracking: Iterable[TrackingRef] = (),
    now: datetime | None = None,
) -> Report:
    """Every rule over the case's evidence; blockers first, then by rule order, then by item order."""
    if now is None or now.tzinfo is None:
        raise ValueError("now must be an aware datetime")  # pure: the caller owns the clock
    ruleset = load_ruleset()
    ctx = CheckContext.build(ruleset, items, other_orders_tracking, now)
    position = {i.evidence_id: n for n, i in enumerate(items)}
    findings = [f for rule in ruleset.rule_ids for f in RULES[rule](case, items, ctx)]
    findings.sort(key=lambda f: (f.severity != "blocker", ruleset.order(f.rule), position.get(f.evidence_id or "", -1)))
    return Report(
        status="needs_fix" if any(f.severity == "blocker" for f in findings) else "ready",
        ruleset_version=ruleset.version,
        findings=tuple(findings),
        evidence_set=tuple(_ref(i, ctx) for i in items),
        reason_code=case.reason_code,
        checked_at=now,
        legal_basis=tuple(ruleset.legal["by_reason"].get(case.reason_code, ())),
    )


def _ref(item: EvidenceItem, ctx: CheckContext) -> EvidenceRef:
    capture = capture_of(item, ctx)
    return EvidenceRef(item.evidence_id, item.kind, item.sha256, capture.shown, capture.source)


def tracking_refs(case: CaseFacts, items: Sequence[EvidenceItem]) -> list[TrackingRef]:
    """This case's carrier + tracking numbers, for the seller's reuse index."""
    kinds = load_ruleset().tracking_kinds
    return [
        TrackingRef(text_of(i.meta.get("carrier")), str(i.meta.get("tracking_number")), case.order_id, case.dispute_id)
        for i in items
        if i.kind in kinds and text_of(i.meta.get("carrier")) and i.meta.get("tracking_number")
    ]


__all__ = ["check", "tracking_refs"]
