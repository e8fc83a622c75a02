"""The one retry delay: exponential, full jitter, capped.

Attempt n (1 for the first retry) waits a uniform draw in [0, min(cap, base * 2^(n-1))]. Full
jitter spreads the retries of many replicas that failed together (a database restart, a broker
away), so they do not come back in step; the cap bounds a long outage's wait. Every retrying
part uses it: the outbox relay, the consumer (an event's attempts, waiting for PostgreSQL), the
worker loop (`shared/worker.py`) under the deadline scheduler and the evidence debouncer.

    delay = Backoff(base_s=0.2, cap_s=5.0).delay(failures)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

_MAX_DOUBLINGS = 60  # 2^60 times any base is past any cap: no float overflow on a long outage


@dataclass(frozen=True)
class Backoff:
    """A pure policy: `delay(attempt)` -> seconds. `rand` (uniform in [0, 1)) is injectable for tests."""

    base_s: float
    cap_s: float
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.base_s > 0:
            raise ValueError(f"backoff base must be positive, not {self.base_s}")
        if self.cap_s < self.base_s:
            raise ValueError(f"backoff cap {self.cap_s} is below its base {self.base_s}")

    def ceiling(self, attempt: int) -> float:
        """The longest wait of `attempt` (1-based): base doubled per earlier attempt, at most the cap."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, not {attempt}")
        return min(self.cap_s, self.base_s * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS))

    def delay(self, attempt: int) -> float:
        """Seconds to wait before `attempt`: a uniform draw in [0, ceiling(attempt)]."""
        return self.ceiling(attempt) * min(max(self.rand(), 0.0), 1.0)
