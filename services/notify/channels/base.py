"""The channel interface: `await channel.send(notification) -> DeliveryResult`, never raising.

Whatever goes wrong (a refused target, a timeout, a redirect, a huge or slow answer, a robot's
error code) comes back as a `DeliveryResult` the dispatcher records as an attempt and hands to
the retry schedule (`services/notify/retry.py`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from services.notify.render import Message
from shared.clock import Clock

if TYPE_CHECKING:
    from services.notify.channels.email import SmtpConfig
    from services.notify.channels.http import HttpSender


@dataclass(frozen=True)
class Notification:
    id: uuid.UUID  # one per (event, channel): the webhook-id of every attempt
    event_type: str
    occurred_at: datetime  # the event's time
    seller_id: str
    dispute_id: str
    message: Message
    language: str = "zh"


@dataclass(frozen=True)
class DeliveryResult:
    delivered: bool
    status_code: int | None  # HTTP status, or the SMTP reply code; None when nothing answered
    latency_ms: float
    error: str | None = None  # a short reason, safe to show: `timeout`, `redirect_not_followed`, `errcode 310000`
    retry_after_s: float | None = None
    gone: bool = False  # 410: disable this channel


class Channel(Protocol):
    async def send(self, notification: Notification) -> DeliveryResult: ...


@dataclass(frozen=True)
class ChannelDeps:
    http: HttpSender
    clock: Clock
    smtp: SmtpConfig | None = None
