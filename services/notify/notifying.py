"""From a consumed event to notification rows, in the consumer's transaction (never committed here).

Each event first teaches the case what it says (order, amount, reason, deadline), so a later
message shows them. Then, if the seller has preferences and wants this event type, one row per
active channel is added, keyed by (event id, channel key): a redelivered event adds nothing.
When a row may go is decided here: at once, at the end of the seller's quiet hours (not for a
deadline under 6 h away), or, for a new dispute whose deadline is not known yet, when its
`deadline.scheduled` arrives, at the latest `deadline_wait_s` later (then without the deadline).
A new dispute below the seller's minimum amount joins that day's digest instead: one row per
channel for (seller, day), due at `digest_hour` of the next day in the seller's zone.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from services.notify import preferences, stored
from services.notify.context import NotifyContext
from services.notify.repository import NotifyRepository
from services.notify.schemas import Channel, MoneyIn, PreferencesDocument
from shared.contracts import Envelope, topics

DIGEST = "digest"
CHANNEL_DISABLED = "channel.disabled"
DEFAULT_ZONE = "Asia/Shanghai"
_NAMESPACE = uuid.UUID("5d2f4c7e-8a51-4f0b-9d7c-1f3e6b2a9c40")  # of the ids notify makes itself


def digest_event_id(seller_id: str, day: date) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"digest:{seller_id}:{day.isoformat()}")


def disabled_event_id(notification_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"gone:{notification_id}")


def seller_zone(document: PreferencesDocument) -> ZoneInfo:
    return ZoneInfo(document.quiet_hours.timezone if document.quiet_hours else DEFAULT_ZONE)


def _seller_of(event: Envelope[Any]) -> str | None:
    return getattr(event.data, "seller_id", None) or event.sellerid


def facts_of(event: Envelope[Any]) -> tuple[dict[str, Any], bool] | None:
    """What `event` says of its case (None values: not said), and whether it is the case's dispute.received."""
    data = event.data
    if event.type == topics.DISPUTE_RECEIVED:
        return case_facts(data), True
    if event.type == topics.DISPUTE_UPDATED:
        return case_facts(data), False
    if event.type in (topics.DEADLINE_SCHEDULED, topics.DEADLINE_ALERTED):
        return {"due_at": data.due_at}, False
    return None


async def handle_many(session: AsyncSession, ctx: NotifyContext, events: Sequence[Envelope[Any]]) -> None:
    """Record what `events` say of their cases, then add their notification rows per their sellers' preferences.

    A fetched run of events in a few statements (the facts of all their cases in one, their
    rows in one), whatever their number: the same path serves one event (a batch of one).
    """
    repo = NotifyRepository(session)
    now = ctx.clock.now()
    unnamed = [e.data.dispute_id for e in events if _seller_of(e) is None]
    known = await repo.cases(unnamed) if unnamed else {}
    items: list[tuple[Envelope[Any], str]] = []
    for event in events:
        seller_id = _seller_of(event)
        if seller_id is None and event.data.dispute_id in known:
            seller_id = known[event.data.dispute_id].seller_id
        if seller_id is not None:  # else nobody to tell: no seller named and the case unknown
            items.append((event, seller_id))
    merged: dict[str, tuple[str, dict[str, Any], bool]] = {}
    for event, seller_id in items:
        said = facts_of(event)
        if said is None:
            continue
        facts, received = said
        dispute_id = event.data.dispute_id
        before = merged.get(dispute_id)
        if before is not None:  # one dispute twice in a batch: later facts win, earlier ones fill in
            facts = before[1] | {k: v for k, v in facts.items() if v is not None}
            received = received or before[2]
        merged[dispute_id] = (seller_id, facts, received)
    await repo.merge_cases([(d, s, f, r) for d, (s, f, r) in merged.items()], now)
    raw = await repo.preferences_of([seller_id for _, seller_id in items])
    if not raw:
        return  # no preferences: nothing is sent
    prefs = {seller_id: stored.load(document, ctx.secret_box) for seller_id, document in raw.items()}
    cases = await repo.cases([e.data.dispute_id for e, seller_id in items if seller_id in prefs])
    rows: list[dict[str, Any]] = []
    woken: list[datetime] = []
    for event, seller_id in items:
        saved = prefs.get(seller_id)
        if saved is None:
            continue
        data = event.data
        dispute_id = data.dispute_id
        document = saved.document
        if event.type == topics.DEADLINE_SCHEDULED:
            due = preferences.release_at(document, now=now, due_at=data.due_at)
            woken += await repo.release_awaiting(dispute_id, due)
        channels = saved.active_channels()
        if not preferences.wants(document, event.type) or not channels:
            continue
        if event.type == topics.DISPUTE_RECEIVED and preferences.goes_to_digest(
            document, event.type, MoneyIn(value=str(data.amount.value), currency=data.amount.currency)
        ):
            await _digest(repo, ctx, seller_id, dispute_id, document, channels, now)
            continue
        case = cases.get(dispute_id)
        deadline = getattr(data, "due_at", None) or (case.due_at if case is not None else None)
        due_at = preferences.release_at(document, now=now, due_at=deadline)
        awaiting = event.type == topics.DISPUTE_RECEIVED and deadline is None
        if awaiting:
            due_at = max(due_at, now + timedelta(seconds=ctx.settings.deadline_wait_s))
        payload = data.model_dump(mode="json")
        rows += [
            _row(
                event.id,
                channel,
                seller_id=seller_id,
                dispute_id=dispute_id,
                event_type=event.type,
                occurred_at=event.time,
                data=payload,
                due_at=due_at,
                now=now,
                awaiting=awaiting,
            )
            for channel in channels
        ]
    added = await repo.add_notifications(rows)
    _wake(session, ctx, woken + [row.due_at for row in added])


async def _digest(
    repo: NotifyRepository,
    ctx: NotifyContext,
    seller_id: str,
    dispute_id: str,
    document: PreferencesDocument,
    channels: Sequence[Channel],
    now: datetime,
) -> None:
    zone = seller_zone(document)
    day = now.astimezone(zone).date()
    await repo.add_digest_item(seller_id, day, dispute_id, now)
    due_at = datetime.combine(day + timedelta(days=1), time(ctx.settings.digest_hour), tzinfo=zone).astimezone(
        now.tzinfo
    )
    event_id = digest_event_id(seller_id, day)
    rows = [
        _row(
            event_id,
            channel,
            seller_id=seller_id,
            dispute_id=None,
            event_type=DIGEST,
            occurred_at=now,
            data={"day": day.isoformat()},
            due_at=due_at,
            now=now,
        )
        for channel in channels
    ]
    await repo.add_notifications(rows)  # the day's first small dispute adds them; later ones only join the list


def _row(
    event_id: uuid.UUID,
    channel: Channel,
    *,
    seller_id: str,
    dispute_id: str | None,
    event_type: str,
    occurred_at: datetime,
    data: Mapping[str, Any],
    due_at: datetime,
    now: datetime,
    awaiting: bool = False,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "event_id": event_id,
        "channel_key": stored.channel_key(channel),
        "channel_type": channel.type,
        "seller_id": seller_id,
        "dispute_id": dispute_id,
        "event_type": event_type,
        "occurred_at": occurred_at,
        "data": dict(data),
        "status": "pending",
        "due_at": due_at,
        "awaiting_deadline": awaiting,
        "created_at": now,
    }


def disabled_notices(
    notification: Any, gone: Channel, channels: Sequence[Channel], now: datetime
) -> list[dict[str, Any]]:
    """Rows telling the seller, by its other channels, that `gone` answered 410 and is disabled."""
    data = {"channel_type": gone.type, "target": getattr(gone, "url", None) or ", ".join(getattr(gone, "to", []))}
    return [
        _row(
            disabled_event_id(notification.id),
            channel,
            seller_id=notification.seller_id,
            dispute_id=notification.dispute_id,
            event_type=CHANNEL_DISABLED,
            occurred_at=now,
            data=data,
            due_at=now,
            now=now,
        )
        for channel in channels
        if stored.channel_key(channel) != stored.channel_key(gone)
    ]


def _wake(session: AsyncSession, ctx: NotifyContext, due: Sequence[datetime]) -> None:
    if due:
        ctx.wakeup.after_commit(session, at=min(due))


def case_facts(data: Any) -> dict[str, Any]:
    """The case facts an event carries (None: not said)."""
    amount = getattr(data, "amount", None)
    facts = {
        "order_id": getattr(data, "order_id", None),
        "amount_value": None if amount is None else str(amount.value),
        "amount_currency": None if amount is None else amount.currency,
        "reason_code": _code(getattr(data, "reason_code", None)),
        "reason_text": getattr(data, "reason_text", None),
    }
    return {k: v for k, v in facts.items() if v is not None}


def _code(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))
