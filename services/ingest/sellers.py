"""Use cases of sellers on one session: onboarding, their webhook secrets and their rules.

Never commits (the request's scope does); returns rows and dataclasses that `api.py` maps to its
schemas, and raises domain errors (errors.py), never HTTP ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.domain.rules import AutoAcceptRule
from services.ingest.errors import SellerExists, SellerNotFound
from services.ingest.repository import IngestRepository
from services.ingest.schemas import SellerRules
from services.ingest.secretbox import new_webhook_secret
from shared.secretbox import SecretBox
from shared.web.auth import Role, mint_token


@dataclass(frozen=True)
class OnboardedSeller:
    """A new seller, with its token and first webhook secret (shown only in the answer that creates it)."""

    seller: Row[Any]
    token: str
    webhook_secret: str


@dataclass(frozen=True)
class RotatedSecret:
    seller_id: str
    webhook_secret: str  # shown once
    previous_expires_at: datetime  # the previous secret verifies until then


def rules_of(seller: Row[Any]) -> SellerRules:
    """The seller's rules as stored (defaults for a seller that never set any)."""
    return SellerRules.model_validate(seller.rules or {})


def auto_accept_of(rules: SellerRules) -> AutoAcceptRule | None:
    return rules.auto_accept.rule() if rules.auto_accept is not None else None


async def onboard_seller(
    session: AsyncSession,
    seller_id: str,
    name: str,
    contact: str,
    *,
    box: SecretBox,
    auth_secret: str,
    token_ttl: timedelta,
    now: datetime,
) -> OnboardedSeller:
    repo = IngestRepository(session)
    row = await repo.insert_seller(seller_id, name, contact)
    if row is None:
        raise SellerExists(
            f"Seller {seller_id} is already onboarded. Its webhook secret was shown once, at onboarding: to get a "
            f"new one, rotate it with POST /v1/sellers/{seller_id}/webhook-secret/rotate (an operator token or the "
            "seller's own; the previous secret keeps verifying for the grace period). A seller token is minted "
            f"with: dd token --role seller --seller-id {seller_id}",
            seller_id=seller_id,
            rotate=f"/v1/sellers/{seller_id}/webhook-secret/rotate",
        )
    secret = new_webhook_secret()
    await repo.add_secret(seller_id, box.seal(secret))
    token = mint_token(auth_secret, Role.seller, seller_id, ttl=token_ttl, now=now)
    return OnboardedSeller(row, token, secret)


async def get_seller(session: AsyncSession, seller_id: str) -> Row[Any]:
    row = await IngestRepository(session).seller(seller_id)
    if row is None:
        raise SellerNotFound("No seller with this id.", seller_id=seller_id)
    return row


async def list_sellers(session: AsyncSession, *, after: str | None, limit: int) -> tuple[list[Row[Any]], str | None]:
    rows = await IngestRepository(session).sellers(after=after, limit=limit + 1)
    page = rows[:limit]
    return page, page[-1].seller_id if len(rows) > limit else None


async def rotate_secret(
    session: AsyncSession, seller_id: str, *, box: SecretBox, grace: timedelta, now: datetime
) -> RotatedSecret:
    """A new current secret; the previous one keeps verifying until now + grace."""
    repo = IngestRepository(session)
    if await repo.lock_seller(seller_id) is None:  # one rotation at a time per seller
        raise SellerNotFound("No seller with this id.", seller_id=seller_id)
    expires_at = now + grace
    await repo.expire_current_secrets(seller_id, expires_at)
    secret = new_webhook_secret()
    await repo.add_secret(seller_id, box.seal(secret))
    return RotatedSecret(seller_id, secret, expires_at)


async def get_rules(session: AsyncSession, seller_id: str) -> SellerRules:
    return rules_of(await get_seller(session, seller_id))


async def put_rules(session: AsyncSession, seller_id: str, rules: SellerRules) -> None:
    """Replace the seller's rules; they apply to disputes that arrive from now on."""
    if not await IngestRepository(session).set_rules(seller_id, rules.model_dump(mode="json")):
        raise SellerNotFound("No seller with this id.", seller_id=seller_id)
