"""HTTP models of the notify service (never Kafka events): the preference document of SPEC section 7.

`PreferencesDocument` is what `PUT /v1/preferences` takes and (masked) what `GET` answers.
Channels are a discriminated union by `type`. `services/notify/preferences.py` parses raw JSON
into it and turns pydantic's errors into the service's stable codes (errors.py).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Sequence
from datetime import datetime, time
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.contracts import topics

Language = Literal["zh", "ko", "en"]
EventType = Literal[
    "dispute.received",
    "dispute.updated",
    "deadline.scheduled",
    "evidence.validated",
    "deadline.alerted",
    "case.submitted",
    "verdict.returned",
]
# What notify consumes and can notify about (evidence.uploaded is the seller's own action).
CONSUMED_EVENTS: Final[tuple[str, ...]] = (
    topics.DISPUTE_RECEIVED,
    topics.DISPUTE_UPDATED,
    topics.DEADLINE_SCHEDULED,
    topics.EVIDENCE_VALIDATED,
    topics.DEADLINE_ALERTED,
    topics.CASE_SUBMITTED,
    topics.VERDICT_RETURNED,
)
# The default subscription: everything but deadline.scheduled, whose deadline the dispute's
# own message already shows (SPEC section 7's example lists the same five plus updates).
DEFAULT_EVENTS: Final[tuple[str, ...]] = tuple(e for e in CONSUMED_EVENTS if e != topics.DEADLINE_SCHEDULED)

# What GET shows in place of a stored secret; a PUT that sends it back keeps the stored one.
MASK: Final = "********"
WEBHOOK_SECRET_PREFIX: Final = "whsec_"
DINGTALK_SECRET_PREFIX: Final = "SEC"
MAX_CHANNELS: Final = 10
MAX_RECIPIENTS: Final = 10

_DINGTALK_SECRET = re.compile(r"^SEC[0-9A-Za-z]{16,128}$")
_FEISHU_SECRET = re.compile(r"^[0-9A-Za-z]{8,128}$")
# Deliberately plain: one address, no display name, nothing that could fold into another header.
_EMAIL = re.compile(
    r"^[^@\s,;<>\"'()\[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)

Url = Annotated[str, Field(min_length=8, max_length=2048)]


def is_masked(secret: str | None, prefix: str = "") -> bool:
    return secret is not None and secret in (MASK, prefix + MASK)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WebhookChannel(_Frozen):
    """A signed HTTPS webhook (Standard Webhooks) with the seller's own `whsec_` secret."""

    type: Literal["webhook"]
    url: Url
    # Omitted (or the mask): keep the secret stored for the same URL; none stored is `secret_required`.
    secret: str | None = None

    @field_validator("secret")
    @classmethod
    def _standard_webhooks_secret(cls, value: str | None) -> str | None:
        if value is None or is_masked(value, WEBHOOK_SECRET_PREFIX):
            return value
        if not value.startswith(WEBHOOK_SECRET_PREFIX):
            raise ValueError("a webhook secret starts with whsec_")
        try:
            key = base64.b64decode(value[len(WEBHOOK_SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a webhook secret is whsec_ and base64") from None
        if not 24 <= len(key) <= 64:
            raise ValueError("a webhook secret holds 24 to 64 bytes")
        return value


class EmailChannel(_Frozen):
    type: Literal["email"]
    to: list[str] = Field(min_length=1, max_length=MAX_RECIPIENTS)

    @field_validator("to")
    @classmethod
    def _plain_addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if len(address) > 254 or not _EMAIL.match(address):
                raise ValueError("not a plain e-mail address")
        return list(dict.fromkeys(address.lower() for address in value))


class WecomChannel(_Frozen):
    """A WeCom (企业微信) group robot: the key in its URL is its only credential."""

    type: Literal["wecom"]
    url: Url


class DingtalkChannel(_Frozen):
    """A DingTalk custom robot; with `secret` (its 加签 `SEC...`) every message is signed."""

    type: Literal["dingtalk"]
    url: Url
    secret: str | None = None

    @field_validator("secret")
    @classmethod
    def _dingtalk_secret(cls, value: str | None) -> str | None:
        if value is None or is_masked(value, DINGTALK_SECRET_PREFIX) or _DINGTALK_SECRET.match(value):
            return value
        raise ValueError("a DingTalk robot secret is SEC followed by letters and digits")


class FeishuChannel(_Frozen):
    """A Feishu / Lark custom bot; with `secret` (签名校验) every message is signed."""

    type: Literal["feishu"]
    url: Url
    secret: str | None = None

    @field_validator("secret")
    @classmethod
    def _feishu_secret(cls, value: str | None) -> str | None:
        if value is None or is_masked(value) or _FEISHU_SECRET.match(value):
            return value
        raise ValueError("a Feishu bot secret is letters and digits")


class SlackChannel(_Frozen):
    """A Slack incoming webhook: the URL is its credential."""

    type: Literal["slack"]
    url: Url


Channel = Annotated[
    WebhookChannel | EmailChannel | WecomChannel | DingtalkChannel | FeishuChannel | SlackChannel,
    Field(discriminator="type"),
]
ChannelType = Literal["webhook", "email", "wecom", "dingtalk", "feishu", "slack"]
SECRET_CHANNELS: Final = ("webhook", "dingtalk", "feishu")


class MoneyIn(_Frozen):
    value: str = Field(pattern=r"^\d{1,15}(\.\d{1,4})?$")
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class QuietHours(_Frozen):
    """No messages from `start` to `end` (local wall clock of `timezone`; may span midnight)."""

    start: time
    end: time
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone") from None
        return value

    @field_validator("start", "end")
    @classmethod
    def _wall_clock(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("quiet hours are a wall-clock time; the zone is `timezone`")
        return value.replace(second=0, microsecond=0)


class PreferencesDocument(_Frozen):
    language: Language = "zh"
    events: list[EventType] = Field(default_factory=lambda: list(DEFAULT_EVENTS))  # type: ignore[arg-type]
    # New disputes below this amount (same currency) go into the daily digest instead of a message each.
    min_amount: MoneyIn | None = None
    quiet_hours: QuietHours | None = None
    channels: list[Channel] = Field(default_factory=list, max_length=MAX_CHANNELS)

    @field_validator("events")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


NotificationStatus = Literal["pending", "retrying", "delivered", "dead", "disabled"]


class AttemptOut(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    outcome: str


class NotificationOut(BaseModel):
    """One notification: one event (or a digest, or a channel-disabled notice) on one channel."""

    id: uuid.UUID  # the `webhook-id` of every attempt
    event_id: uuid.UUID
    event_type: str
    seller_id: str
    dispute_id: str | None
    channel: ChannelType
    channel_key: str
    status: NotificationStatus
    due_at: datetime | None  # when it goes next (pending or retrying), else None
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptOut] = Field(default_factory=list)

    @classmethod
    def of(cls, row: Any, attempts: Sequence[Any] = ()) -> NotificationOut:
        waiting = row.status in ("pending", "retrying")
        return cls(
            id=row.id,
            event_id=row.event_id,
            event_type=row.event_type,
            seller_id=row.seller_id,
            dispute_id=row.dispute_id,
            channel=row.channel_type,
            channel_key=row.channel_key,
            status=row.status,
            due_at=row.due_at if waiting else None,
            attempts=row.attempts,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
            attempt_log=[
                AttemptOut(
                    attempt=a.attempt,
                    at=a.at,
                    status_code=a.status_code,
                    latency_ms=a.latency_ms,
                    error=a.error,
                    outcome=a.outcome,
                )
                for a in attempts
            ],
        )


class NotificationList(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None
