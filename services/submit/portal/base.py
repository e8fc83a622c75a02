"""The one interface every dispute portal adapter implements, and what its calls answer.

`submit` sends a package under an idempotency key the portal honours: calling it again with the
same key (after a timeout, a crash, a lost response) answers the same receipt and never makes a
second submission. `status` asks what the portal has under a key: the way to reconcile a call
whose answer was lost. Errors: `PortalRejected` (the portal refused the package: do not retry),
`PortalUnavailable` (no answer after the retries: the outcome is unknown, reconcile with `status`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol


@dataclass(frozen=True)
class PackageUpload:
    dispute_id: str
    seller_id: str  # the vendor id the portal knows the seller by
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class Receipt:
    receipt_id: str
    received_at: datetime  # the portal's time
    package_sha256: str


@dataclass(frozen=True)
class PortalStatus:
    receipt: Receipt | None  # None: the portal has nothing under this key
    state: Literal["unknown", "received", "decided"]
    outcome: Literal["won", "lost", "partial"] | None = None


class PortalError(Exception):
    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class PortalRejected(PortalError):
    """A 4xx other than 429: the package or the request is wrong; retrying sends the same wrong thing."""


class PortalUnavailable(PortalError):
    """Timeouts, 429 or 5xx until the attempts ran out: whether the portal stored it is unknown."""


class Portal(Protocol):
    async def submit(self, upload: PackageUpload, *, idempotency_key: str) -> Receipt: ...

    async def status(self, seller_id: str, dispute_id: str, *, idempotency_key: str) -> PortalStatus: ...
