"""A channel for tests: records what it was asked to send and answers from a script."""

from __future__ import annotations

from collections.abc import Iterable

from services.notify.channels.base import DeliveryResult, Notification

DELIVERED = DeliveryResult(delivered=True, status_code=200, latency_ms=1.0)


class FakeChannel:
    def __init__(self, results: Iterable[DeliveryResult] = ()) -> None:
        self.sent: list[Notification] = []
        self._results = list(results)

    async def send(self, notification: Notification) -> DeliveryResult:
        self.sent.append(notification)
        return self._results.pop(0) if self._results else DELIVERED
