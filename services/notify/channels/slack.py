"""Slack incoming webhooks: Block Kit (a header, a mrkdwn section, a link button) with `text` as fallback.

The URL is the credential. Slack answers 200 `ok`, or an HTTP error with a short text
(`invalid_payload` 400, `no_service` 404, `channel_is_archived` 410: the channel is disabled).
In mrkdwn only `&`, `<` and `>` are control characters; they are escaped as Slack documents.
"""

from __future__ import annotations

from services.notify.channels._robot import dumps, result_of
from services.notify.channels.base import DeliveryResult, Notification
from services.notify.channels.http import HttpSender

MAX_SECTION_CHARS = 3000
LABEL = {"zh": "查看案件", "ko": "사건 보기", "en": "Open the case"}


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def body(notification: Notification) -> bytes:
    message = notification.message
    return dumps(
        {
            "text": f"{message.title}\n{message.url}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": slack_escape(message.text)[:MAX_SECTION_CHARS]}},
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": LABEL.get(notification.language, LABEL["en"])},
                            "url": message.url,
                        }
                    ],
                },
            ],
        }
    )


class SlackChannel:
    def __init__(self, http: HttpSender, url: str) -> None:
        self._http = http
        self._url = url

    async def send(self, notification: Notification) -> DeliveryResult:
        return result_of(await self._http.post(self._url, body(notification), {}))
