"""The preferences use cases: read (masked) and save (validated, targets checked, secrets sealed).

Whose: a seller's own; an operator names the seller (`seller_id`, else `seller_id_required`).
A save checks every channel URL against the target policy (targets.py: no SSRF target), keeps a
stored secret the document leaves out or masks, seals the secrets and enables every channel
again (a channel a 410 disabled comes back when the seller saves it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import errors, preferences, stored
from services.notify.context import NotifyContext
from services.notify.repository import NotifyRepository
from services.notify.targets import check_target, system_resolver
from shared.web.auth import Principal, seller_filter


def whose(principal: Principal, seller_id: str | None) -> str:
    seller = seller_filter(principal, seller_id)
    if seller is None:
        raise errors.SellerRequired("An operator names the seller: ?seller_id=.", field="seller_id")
    return seller


def view(prefs: stored.Stored, seller_id: str) -> dict[str, Any]:
    """What GET answers: the masked document, each channel saying whether it is disabled."""
    document = preferences.masked(prefs.document)
    for raw, channel in zip(document["channels"], prefs.document.channels, strict=True):
        disabled_at = prefs.disabled.get(stored.channel_key(channel))
        raw["disabled"] = disabled_at is not None
        raw["disabled_at"] = disabled_at
    return {"seller_id": seller_id, **document}


async def get_preferences(
    session: AsyncSession, ctx: NotifyContext, principal: Principal, seller_id: str | None
) -> dict[str, Any]:
    seller = whose(principal, seller_id)
    raw = await NotifyRepository(session).preferences(seller)
    if raw is None:
        raise errors.PreferencesNotFound("No preferences are saved for this seller.")
    return view(stored.load(raw, ctx.secret_box), seller)


async def put_preferences(
    session: AsyncSession, ctx: NotifyContext, principal: Principal, seller_id: str | None, body: object
) -> dict[str, Any]:
    seller = whose(principal, seller_id)
    document = preferences.parse_preferences(body)
    repo = NotifyRepository(session)
    raw = await repo.preferences(seller, lock=True)
    known = {} if raw is None else stored.load(raw, ctx.secret_box).secrets()
    document = preferences.carry_secrets(document, known)
    for index, url in preferences.channel_urls(document):
        try:
            await check_target(url, ctx.policy, system_resolver)
        except errors.TargetRefused as refused:
            raise type(refused)(refused.detail, field=f"channels.{index}.url") from None
    await repo.put_preferences(seller, stored.dump(document, ctx.secret_box), ctx.clock.now())
    return view(stored.Stored(document), seller)
