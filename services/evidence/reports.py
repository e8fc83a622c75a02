"""Reports as the seller reads them: in zh / ko / en, with the legal basis, and whether the
evidence set or the case's facts changed since (`stale`). Also the statement templates that pass
the checker.

The language: `?lang=` when given (zh | ko | en, else 422 `unsupported_language`); otherwise the
case's (the seller's default carried by its `dispute.received`); for templates, a seller's latest
received dispute's; else zh.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.evidence import checker, runs
from services.evidence.cases import case_of
from services.evidence.errors import ReportNotFound, UnknownReasonCode, UnsupportedLanguage
from services.evidence.facts import report_of
from services.evidence.repository import EvidenceRepository
from shared.web.auth import Principal

DEFAULT_LANG = "zh"  # the sellers are Chinese cross-border sellers


async def latest_report(
    session: AsyncSession, principal: Principal, dispute_id: str, lang: str | None
) -> dict[str, Any]:
    _lang(lang)
    case = await case_of(session, principal, dispute_id)
    repo = EvidenceRepository(session)
    row = await repo.latest_report(dispute_id)
    if row is None:
        raise ReportNotFound("No report yet: upload evidence, or POST …/evidence/check.", dispute_id=dispute_id)
    return rendered(row, case, await repo.current_set(dispute_id), _case_lang(lang, case))


async def check_now(
    session: AsyncSession, principal: Principal, dispute_id: str, lang: str | None, *, now: datetime
) -> dict[str, Any]:
    """Run the checker at once on the current set (a pending debounced run is folded into this one)."""
    _lang(lang)
    case = await case_of(session, principal, dispute_id, lock=True)
    row = await runs.run_check(session, case, now=now, trigger="request")
    current = await EvidenceRepository(session).current_set(dispute_id)
    return rendered(row, case, current, _case_lang(lang, case))


def rendered(row: Row[Any], case: Row[Any], current: list[Row[Any]], lang: str) -> dict[str, Any]:
    """The report body: the checker's own rendering, plus its id, pinned set and staleness (the set,
    or the case's amount, reason code or order id, changed since it was checked)."""
    body = checker.render_report(report_of(row), lang)
    pinned = {(e["evidence_id"], e.get("sha256")) for e in row.evidence_set}
    now_set = {(str(r.id), r.sha256) for r in current}
    return {
        "report_id": str(row.id),
        "dispute_id": row.dispute_id,
        "lang": lang,
        "stale": pinned != now_set or row.facts_version != case.facts_version,
        "trigger": row.trigger,
        "evidence_set": row.evidence_set,
        **body,
    }


async def templates(session: AsyncSession, principal: Principal, reason_code: str, lang: str | None) -> dict[str, Any]:
    _lang(lang)
    if lang is None:
        seller = None if principal.is_operator else principal.seller_id
        known = await EvidenceRepository(session).latest_language(seller) if seller else None
        lang = known or DEFAULT_LANG
    try:
        return checker.statement_templates(reason_code, lang)
    except checker.UnknownReasonCode as exc:
        raise UnknownReasonCode(str(exc), reason_code=reason_code) from None


def _case_lang(lang: str | None, case: Row[Any]) -> str:
    """`?lang=` wins; else the case's language (the seller's default when the dispute arrived); else zh."""
    if lang is not None:
        return lang
    return case.language if case.language in checker.LANGS else DEFAULT_LANG


def _lang(lang: str | None) -> None:
    """A `?lang=` that was given must be one we render (an absent one takes the default)."""
    if lang is not None and lang not in checker.LANGS:
        raise UnsupportedLanguage(f"lang must be one of {', '.join(checker.LANGS)}.", langs=list(checker.LANGS))
