"""Use case of a seller's figures (`GET /v1/stats`): win rate, on-time rate and the breakdowns.

Never commits; returns the domain's `Stats` (domain/stats.py), which `api.py` maps to its schema.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.stats import Stats, Tally, summarise
from services.ingest.repository import IngestRepository


async def seller_figures(
    session: AsyncSession, seller_id: str | None, *, since: datetime | None, until: datetime | None
) -> Stats:
    """One seller's figures, or every seller's (`seller_id` None: operators)."""
    rows, on_time, late = await IngestRepository(session).stats_tallies(seller_id, since=since, until=until)
    # The carrier is the one the case's latest tracking evidence named ("unknown" before any).
    tallies = (Tally(row.reason_code, row.month, row.carrier, row.status, row.tally) for row in rows)
    return summarise(tallies, on_time=on_time, late=late)
