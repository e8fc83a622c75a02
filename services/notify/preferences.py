"""A seller's notification preferences: parsed with stable refusals, masked for reading, and the pure
rules the dispatcher asks of them (which events, digest or not, when quiet hours let a message go).

Parsing turns pydantic's errors into the service's codes (errors.py): the first error decides,
and its `field` is the dotted path into the document. No detail ever echoes the input, which may
hold a secret. Secrets are validated by format here; the service seals them (`SecretBox`, as
ingest does) and GET shows `masked()`, never a secret again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from services.notify import errors
from services.notify.schemas import (
    DINGTALK_SECRET_PREFIX,
    MASK,
    SECRET_CHANNELS,
    WEBHOOK_SECRET_PREFIX,
    Channel,
    MoneyIn,
    PreferencesDocument,
    QuietHours,
    is_masked,
)
from shared.contracts import topics

# Reminders with less than this left are sent through quiet hours (issue 17, item 1).
URGENT_BEFORE: Final = timedelta(hours=6)

_MASK_PREFIX: Final = {"webhook": WEBHOOK_SECRET_PREFIX, "dingtalk": DINGTALK_SECRET_PREFIX, "feishu": ""}


def parse_preferences(raw: object) -> PreferencesDocument:
    """The document, or the DomainError naming what is wrong with it."""
    if not isinstance(raw, Mapping):
        raise errors.InvalidPreferences("Preferences are a JSON object.", field="")
    try:
        return PreferencesDocument.model_validate(raw)
    except ValidationError as exc:
        raise _refusal(exc) from None


def _refusal(exc: ValidationError) -> errors.InvalidPreferences:
    first = exc.errors(include_url=False, include_input=False)[0]
    loc = tuple(first["loc"])
    kind = first["type"]
    field = ".".join(str(part) for part in loc)
    head = loc[0] if loc else ""
    if head == "language":
        return errors.UnknownLanguage("Language is one of zh, ko, en.", field=field)
    if head == "events" and len(loc) > 1:
        return errors.UnknownEvent("Not an event this service notifies about.", field=field)
    if head == "channels" and kind in ("union_tag_invalid", "union_tag_not_found"):
        return errors.UnknownChannelType(
            "Channel type is one of webhook, email, wecom, dingtalk, feishu, slack.", field=field
        )
    if loc and loc[-1] == "secret":
        return errors.InvalidSecret("The secret is not in this channel's format.", field=field)
    if head == "quiet_hours" and loc[-1] == "timezone":
        return errors.UnknownTimezone("Quiet hours need an IANA time zone such as Asia/Shanghai.", field=field)
    return errors.InvalidPreferences(f"Invalid value ({kind}).", field=field, reason=kind)


def _identity(channel: Channel) -> tuple[str, str]:
    return (channel.type, getattr(channel, "url", ""))


def carry_secrets(new: PreferencesDocument, stored: Mapping[tuple[str, str], str]) -> PreferencesDocument:
    """`new` with every omitted or masked secret replaced by the one stored for the same (type, url).

    `stored` maps (type, url) to the opened secret. A webhook needs a secret (`secret_required`);
    DingTalk and Feishu robots may run without one (keyword or IP security instead); an explicit
    `"secret": null` removes theirs.
    """
    channels: list[Channel] = []
    for index, channel in enumerate(new.channels):
        if channel.type in SECRET_CHANNELS:
            given: str | None = getattr(channel, "secret", None)
            secret: str | None
            if given is None and "secret" in channel.model_fields_set:
                secret = None  # an explicit null removes it
            elif given is None or is_masked(given, _MASK_PREFIX[channel.type]):
                secret = stored.get(_identity(channel))
                if secret is None and given is not None:
                    raise errors.SecretRequired(
                        "No secret is stored for this channel; send the secret itself.",
                        field=f"channels.{index}.secret",
                    )
            else:
                secret = given
            if channel.type == "webhook" and secret is None:
                raise errors.SecretRequired(
                    "A webhook channel needs its whsec_ secret.", field=f"channels.{index}.secret"
                )
            channel = channel.model_copy(update={"secret": secret})
        channels.append(channel)
    return new.model_copy(update={"channels": channels})


def masked(preferences: PreferencesDocument) -> dict[str, Any]:
    """The JSON GET answers: every secret replaced by its mask, `secret_set` telling whether one is kept."""
    document = preferences.model_dump(mode="json")
    for channel in document["channels"]:
        if channel["type"] in SECRET_CHANNELS:
            has_secret = channel.get("secret") is not None
            channel["secret"] = _MASK_PREFIX[channel["type"]] + MASK if has_secret else None
            channel["secret_set"] = has_secret
    return document


def wants(preferences: PreferencesDocument, event_type: str) -> bool:
    return event_type in preferences.events


def goes_to_digest(preferences: PreferencesDocument, event_type: str, amount: MoneyIn | None) -> bool:
    """A new dispute below the seller's minimum (same currency) waits for the daily digest.

    An amount in another currency, or none, is sent on its own: one message too many is
    cheaper than a dispute nobody saw (no exchange rates here).
    """
    minimum = preferences.min_amount
    if event_type != topics.DISPUTE_RECEIVED or minimum is None or amount is None:
        return False
    return amount.currency == minimum.currency and Decimal(amount.value) < Decimal(minimum.value)


def quiet_until(quiet: QuietHours | None, now: datetime) -> datetime | None:
    """When the quiet hours around `now` end (UTC), or None when `now` is not in them."""
    if quiet is None or quiet.start == quiet.end:
        return None
    zone = ZoneInfo(quiet.timezone)
    local = now.astimezone(zone)
    at = local.time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        inside = quiet.start <= at < quiet.end
        end_day = local.date()
    else:  # spans midnight: 22:00-08:00
        inside = at >= quiet.start or at < quiet.end
        end_day = local.date() + timedelta(days=1) if at >= quiet.start else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, quiet.end, tzinfo=zone).astimezone(now.tzinfo)


def release_at(preferences: PreferencesDocument, *, now: datetime, due_at: datetime | None = None) -> datetime:
    """When a message may go: now, or the end of the quiet hours.

    A message about a deadline less than 6 h away goes now; one held by quiet hours goes at the
    latest 6 h before its deadline, so holding it never makes it urgent-and-late.
    """
    if due_at is not None and due_at - now < URGENT_BEFORE:
        return now
    until = quiet_until(preferences.quiet_hours, now)
    if until is None:
        return now
    if due_at is not None:
        until = min(until, due_at - URGENT_BEFORE)
    return max(until, now)


def channel_urls(preferences: PreferencesDocument) -> Sequence[tuple[int, str]]:
    """(index, url) of every channel that has one, for target validation at save time."""
    return [(i, url) for i, channel in enumerate(preferences.channels) if (url := getattr(channel, "url", None))]
