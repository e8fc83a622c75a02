"""DingTalk (钉钉) custom robots: markdown messages, signed with the robot's 加签 secret.

Signing (DingTalk's custom robot security settings): `timestamp` in milliseconds,
`sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))`, both added
to the webhook URL's query. DingTalk refuses a timestamp more than an hour off. The body is
`{"msgtype": "markdown", "markdown": {"title", "text"}}`; the answer is HTTP 200 with
`{"errcode": 0, "errmsg": "ok"}` (310000 is a bad signature). DingTalk's markdown needs a blank
line for a line break, so single newlines are doubled.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from services.notify.channels._robot import dumps, errcode_zero, markdown_title, result_of
from services.notify.channels.base import DeliveryResult, Notification
from services.notify.channels.http import HttpSender
from shared.clock import Clock


def sign(secret: str, timestamp_ms: int) -> str:
    """The (not yet URL-encoded) base64 signature DingTalk checks."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("timestamp", "sign")]
    query += [("timestamp", str(timestamp_ms)), ("sign", sign(secret, timestamp_ms))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def body(notification: Notification) -> bytes:
    title = markdown_title(notification)
    text = f"#### {title}\n\n" + notification.message.markdown.replace("\n", "\n\n")
    return dumps({"msgtype": "markdown", "markdown": {"title": notification.message.title[:64], "text": text}})


class DingtalkChannel:
    def __init__(self, http: HttpSender, url: str, secret: str | None, *, clock: Clock) -> None:
        self._http = http
        self._url = url
        self._secret = secret
        self._clock = clock

    async def send(self, notification: Notification) -> DeliveryResult:
        url = self._url
        if self._secret is not None:
            url = signed_url(url, self._secret, int(self._clock.now().timestamp() * 1000))
        return result_of(await self._http.post(url, body(notification), {}), errcode_zero("errcode"))
