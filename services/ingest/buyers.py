"""Use case of a buyer seen by one seller: its disputes in the risk window (domain/risk.py).

Never commits; returns the domain's `BuyerRisk`, which `api.py` maps to its schema.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.risk import BuyerDispute, BuyerRisk, RiskRule, assess
from services.ingest.errors import BuyerNotFound
from services.ingest.repository import IngestRepository


async def buyer_risk(
    session: AsyncSession, seller_id: str, buyer_id: str, *, rule: RiskRule, now: datetime
) -> BuyerRisk:
    """The buyer's disputes with this seller in the rule's window; 404 for a buyer this seller never saw."""
    rows = await IngestRepository(session).buyer_cases(seller_id, buyer_id)
    if not rows:
        raise BuyerNotFound("No dispute of this seller names this buyer.", buyer_id=buyer_id)
    disputes = [
        BuyerDispute(row.dispute_id, row.order_id, row.reason_code, row.notified_at, row.status) for row in rows
    ]
    return assess(buyer_id, disputes, rule, now=now)
