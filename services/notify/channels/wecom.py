"""WeCom (企业微信) group robots: `{"msgtype": "markdown", "markdown": {"content": ...}}`.

The robot's key in the URL is its credential (no signing). It answers HTTP 200 with
`{"errcode": 0, "errmsg": "ok"}`; any other errcode is a failed attempt. Markdown content is at
most 4096 bytes: a longer message is cut.
"""

from __future__ import annotations

from services.notify.channels._robot import dumps, errcode_zero, markdown_title, result_of
from services.notify.channels.base import DeliveryResult, Notification
from services.notify.channels.http import HttpSender

MAX_CONTENT_BYTES = 4096


def content(notification: Notification) -> str:
    text = f"**{markdown_title(notification)}**\n{notification.message.markdown}"
    encoded = text.encode()
    if len(encoded) <= MAX_CONTENT_BYTES:
        return text
    return encoded[: MAX_CONTENT_BYTES - 3].decode(errors="ignore") + "…"


class WecomChannel:
    def __init__(self, http: HttpSender, url: str) -> None:
        self._http = http
        self._url = url

    async def send(self, notification: Notification) -> DeliveryResult:
        body = dumps({"msgtype": "markdown", "markdown": {"content": content(notification)}})
        return result_of(await self._http.post(self._url, body, {}), errcode_zero("errcode"))
