"""Which portal adapter a seller submits through, and the http adapter built for one call.

A seller with no row in `seller_portals` uses `http` on the settings' portal (`portal_url`) under
its own seller id as vendor id. The access and secret key come from the settings for every seller
for now (one service-firm account; per-seller keys sealed like ingest's webhook secrets are a
later step: README "Decisions"). Every request of the client takes a token of the seller's
bucket first (`ratelimit.RateLimitedTransport`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from services.submit.context import SubmitContext
from services.submit.portal.http import HttpPortal
from services.submit.ratelimit import RateLimitedTransport
from services.submit.repository import SubmitRepository


@dataclass(frozen=True)
class PortalChoice:
    adapter: Literal["http", "manual"]
    endpoint: str
    vendor_id: str


async def choice_of(session: AsyncSession, ctx: SubmitContext, seller_id: str) -> PortalChoice:
    row = await SubmitRepository(session).portal_of(seller_id)
    if row is None:
        return PortalChoice("http", ctx.settings.portal_url, seller_id)
    return PortalChoice(row.adapter, row.endpoint or ctx.settings.portal_url, row.vendor_id or seller_id)


def http_portal(ctx: SubmitContext, seller_id: str, choice: PortalChoice) -> HttpPortal:
    s = ctx.settings
    return HttpPortal(
        choice.endpoint,
        vendor_id=choice.vendor_id,
        access_key=s.portal_access_key,
        secret_key=s.portal_secret_key,
        clock=ctx.clock,
        timeout_s=s.portal_timeout_s,
        max_attempts=s.portal_max_attempts,
        transport=RateLimitedTransport(ctx.rate_limit, seller_id),
    )
