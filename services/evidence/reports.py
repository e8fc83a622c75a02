"""Reports as the seller reads them: in zh / ko / en, with the legal basis, and whether the
evidence set changed since (`stale`). Also the statement templates that pass the checker.
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


async def latest_report(session: AsyncSession, principal: Principal, dispute_id: str, lang: str) -> dict[str, Any]:
    _lang(lang)
    await case_of(session, principal, dispute_id)
    repo = EvidenceRepository(session)
    row = await repo.latest_report(dispute_id)
    if row is None:
        raise ReportNotFound("No report yet: upload evidence, or POST …/evidence/check.", dispute_id=dispute_id)
    return rendered(row, await repo.current_set(dispute_id), lang)


async def check_now(
    session: AsyncSession, principal: Principal, dispute_id: str, lang: str, *, now: datetime
) -> dict[str, Any]:
    """Run the checker at once on the current set (a pending debounced run is folded into this one)."""
    _lang(lang)
    case = await case_of(session, principal, dispute_id, lock=True)
    row = await runs.run_check(session, case, now=now, trigger="request")
    return rendered(row, await EvidenceRepository(session).current_set(dispute_id), lang)


def rendered(row: Row, current: list[Row], lang: str) -> dict[str, Any]:
    """The report body: the checker's own rendering, plus its id, pinned set and staleness."""
    body = checker.render_report(report_of(row), lang)
    pinned = {(e["evidence_id"], e.get("sha256")) for e in row.evidence_set}
    now_set = {(str(r.id), r.sha256) for r in current}
    return {
        "report_id": str(row.id),
        "dispute_id": row.dispute_id,
        "lang": lang,
        "stale": pinned != now_set,
        "trigger": row.trigger,
        "evidence_set": row.evidence_set,
        **body,
    }


def templates(reason_code: str, lang: str) -> dict[str, Any]:
    _lang(lang)
    try:
        return checker.statement_templates(reason_code, lang)
    except checker.UnknownReasonCode as exc:
        raise UnknownReasonCode(str(exc), reason_code=reason_code) from None


def _lang(lang: str) -> None:
    if lang not in checker.LANGS:
        raise UnsupportedLanguage(f"lang must be one of {', '.join(checker.LANGS)}.", langs=list(checker.LANGS))
