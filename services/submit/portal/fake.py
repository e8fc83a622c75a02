"""An in-memory portal for tests: the interface's promises (same key, same receipt) and scripted failures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.submit.portal.base import PackageUpload, PortalError, PortalStatus, PortalUnavailable, Receipt


class FakePortal:
    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._now = now
        self.receipts: dict[tuple[str, str], Receipt] = {}  # (seller, key) -> receipt
        self.calls: list[str] = []  # idempotency keys, one per submit call
        self.fail_next: list[PortalError] = []  # raised, in order, before anything is stored
        self.lose_next = 0  # store, then raise `PortalUnavailable` (a lost response)

    async def submit(self, upload: PackageUpload, *, idempotency_key: str) -> Receipt:
        self.calls.append(idempotency_key)
        if self.fail_next:
            raise self.fail_next.pop(0)
        key = (upload.seller_id, idempotency_key)
        receipt = self.receipts.get(key)
        if receipt is None:
            receipt = Receipt(f"FAKE-{len(self.receipts) + 1:06d}", self._now(), upload.sha256)
            self.receipts[key] = receipt
        if self.lose_next:
            self.lose_next -= 1
            raise PortalUnavailable("response lost")
        return receipt

    async def status(self, seller_id: str, dispute_id: str, *, idempotency_key: str) -> PortalStatus:
        receipt = self.receipts.get((seller_id, idempotency_key))
        return PortalStatus(receipt, "unknown" if receipt is None else "received")
