"""The Evidence Gap Checker (SPEC section 5), pure: facts in, findings out, no I/O.

facts = extract(data, media_type)                     # before the checker, once per upload
report = check(case, items, other_orders_tracking, now=now)
render(report, "zh") / render_report(report, "ko")    # message and fix per finding
"""

from services.evidence.checker.check import check, tracking_refs
from services.evidence.checker.context import resolve_carrier, tracking_key
from services.evidence.checker.extract import detect_language, extract
from services.evidence.checker.model import (
    Amount,
    CaseFacts,
    EvidenceItem,
    EvidenceRef,
    ExtractedFacts,
    Finding,
    Report,
    TrackingRef,
)
from services.evidence.checker.render import UnsupportedLanguage, legal_basis, render, render_report
from services.evidence.checker.ruleset import LANGS, load_ruleset
from services.evidence.checker.templates import UnknownReasonCode, statement_templates
from services.evidence.checker.times import parse_instant, parse_times

__all__ = [
    "LANGS",
    "Amount",
    "CaseFacts",
    "EvidenceItem",
    "EvidenceRef",
    "ExtractedFacts",
    "Finding",
    "Report",
    "TrackingRef",
    "UnknownReasonCode",
    "UnsupportedLanguage",
    "check",
    "detect_language",
    "extract",
    "legal_basis",
    "load_ruleset",
    "parse_instant",
    "parse_times",
    "render",
    "render_report",
    "statement_templates",
    "resolve_carrier",
    "tracking_key",
    "tracking_refs",
]
