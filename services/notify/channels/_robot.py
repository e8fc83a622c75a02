"""What the HTTP channels share: turning an `HttpReply` into a `DeliveryResult`, robot answers, JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from services.notify.channels.base import DeliveryResult, Notification
from services.notify.channels.http import HttpReply
from services.notify.render import markdown_escape


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def result_of(reply: HttpReply, body_ok: Callable[[bytes], str | None] | None = None) -> DeliveryResult:
    """The result of one HTTP attempt; `body_ok` returns an error for a 2xx whose body says it failed."""
    error = reply.error
    if error is None and reply.ok and body_ok is not None:
        error = body_ok(reply.body)
    return DeliveryResult(
        delivered=error is None and reply.ok,
        status_code=reply.status_code,
        latency_ms=reply.latency_ms,
        error=error,
        retry_after_s=reply.retry_after_s,
        gone=reply.status_code == 410,
    )


def errcode_zero(field: str, *fallbacks: str) -> Callable[[bytes], str | None]:
    """A robot's JSON answer is a success when `field` (or a fallback name) is 0."""

    def check(body: bytes) -> str | None:
        try:
            answer = json.loads(body)
        except ValueError:
            return "unreadable_answer"
        if not isinstance(answer, dict):
            return "unreadable_answer"
        for name in (field, *fallbacks):
            if name in answer:
                return None if answer[name] == 0 else f"{name} {answer[name]}"
        return "unreadable_answer"

    return check


def markdown_title(notification: Notification) -> str:
    return str(markdown_escape(notification.message.title))
