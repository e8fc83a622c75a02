"""Signed webhooks: Standard Webhooks headers and signature, through the reference library.

Every attempt of one notification carries the same `webhook-id` (the notification's id), so
the receiver can drop a redelivery; `webhook-timestamp` is the attempt's time (receivers
refuse old ones). The body is Standard Webhooks' payload shape `{type, timestamp, data}`:
`data` holds the event's facts, the rendered `title` and `text`, and the case's `url`.
"""

from __future__ import annotations

from typing import Any

from standardwebhooks import Webhook

from services.notify.channels._robot import dumps, result_of
from services.notify.channels.base import DeliveryResult, Notification
from services.notify.channels.http import HttpSender
from shared.clock import Clock


def payload(notification: Notification) -> dict[str, Any]:
    message = notification.message
    return {
        "type": notification.event_type,
        "timestamp": notification.occurred_at.isoformat(),
        "data": {
            **message.facts,
            "dispute_id": notification.dispute_id,
            "seller_id": notification.seller_id,
            "title": message.title,
            "text": message.text,
            "url": message.url,
        },
    }


class WebhookChannel:
    def __init__(self, http: HttpSender, url: str, secret: str, *, clock: Clock) -> None:
        self._http = http
        self._url = url
        self._webhook = Webhook(secret)
        self._clock = clock

    async def send(self, notification: Notification) -> DeliveryResult:
        body = dumps(payload(notification))
        msg_id = str(notification.id)
        now = self._clock.now()
        signature = self._webhook.sign(msg_id, now, body.decode())
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        return result_of(await self._http.post(self._url, body, headers))
