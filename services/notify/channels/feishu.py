"""Feishu / Lark custom bots: interactive cards, signed with the bot's 签名校验 secret.

Signing (Feishu's custom bot guide): `timestamp` in seconds,
`sign = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))`, both in the JSON body.
Feishu refuses a timestamp more than an hour off. The card has a header (the title) and one
`markdown` element (the text, values escaped) with the case link as a button. The answer is HTTP
200 with `{"code": 0, "msg": "success"}` (older bots: `{"StatusCode": 0}`); 19021 is a bad signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from services.notify.channels._robot import dumps, errcode_zero, result_of
from services.notify.channels.base import DeliveryResult, Notification
from services.notify.channels.http import HttpSender
from shared.clock import Clock

LABEL = {"zh": "查看案件", "ko": "사건 보기", "en": "Open the case"}


def sign(secret: str, timestamp_s: int) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def card(notification: Notification) -> dict[str, Any]:
    message = notification.message
    urgent = notification.event_type == "deadline.alerted"
    return {
        "config": {"wide_screen_mode": True},
        "header": {"template": "red" if urgent else "blue", "title": {"tag": "plain_text", "content": message.title}},
        "elements": [
            {"tag": "markdown", "content": message.markdown},
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "type": "primary",
                        "url": message.url,
                        "text": {"tag": "plain_text", "content": LABEL.get(notification.language, LABEL["zh"])},
                    }
                ],
            },
        ],
    }


class FeishuChannel:
    def __init__(self, http: HttpSender, url: str, secret: str | None, *, clock: Clock) -> None:
        self._http = http
        self._url = url
        self._secret = secret
        self._clock = clock

    async def send(self, notification: Notification) -> DeliveryResult:
        payload: dict[str, Any] = {"msg_type": "interactive", "card": card(notification)}
        if self._secret is not None:
            timestamp = int(self._clock.now().timestamp())
            payload = {"timestamp": str(timestamp), "sign": sign(self._secret, timestamp), **payload}
        reply = await self._http.post(self._url, dumps(payload), {})
        return result_of(reply, errcode_zero("code", "StatusCode"))
