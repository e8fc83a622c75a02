"""The retry schedule of a notification: pure, so its every branch is a unit test.

Standard Webhooks' schedule by default: after the first attempt fails, retry in 5 s, 5 min,
30 min, 2 h, 5 h, 10 h and 10 h (eight attempts in about 28 hours), each wait spread by jitter
(uniform within ±`jitter` of it, `rand` injectable as in shared/backoff.py) so that the
notifications of one outage do not come back in step. A sink's `Retry-After` (seconds or an
HTTP date) is honoured when it asks for longer. Nothing is scheduled past `horizon` from the
first attempt: what would be is dead. A `410 Gone` is its own outcome (the channel is disabled).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Final

STANDARD_WEBHOOKS_DELAYS_S: Final[tuple[float, ...]] = (5, 300, 1_800, 7_200, 18_000, 36_000, 36_000)
MAX_RETRY_AFTER_S: Final = 7 * 24 * 3600.0  # a Retry-After beyond a week is nonsense: ignored


class Outcome(StrEnum):
    delivered = "delivered"
    retry = "retry"  # due again at `Decision.due_at`
    gone = "gone"  # 410: the target is gone for good; disable the channel
    dead = "dead"  # retries exhausted or past the horizon


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    due_at: datetime | None = None  # set exactly when outcome is `retry`


@dataclass(frozen=True)
class RetrySchedule:
    delays_s: tuple[float, ...] = STANDARD_WEBHOOKS_DELAYS_S
    jitter: float = 0.1  # each wait drawn uniformly within ±10 % of its delay
    horizon: timedelta = timedelta(hours=36)  # from the first attempt; the schedule with all jitter takes 30.3 h
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if any(delay <= 0 for delay in self.delays_s):
            raise ValueError("retry delays are positive")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter is a fraction in [0, 1), not {self.jitter}")

    @property
    def max_attempts(self) -> int:
        return len(self.delays_s) + 1

    def wait_s(self, attempts: int) -> float | None:
        """Seconds after the `attempts`-th failed attempt (1-based) until the next, or None: no more."""
        if attempts < 1:
            raise ValueError(f"attempts count from 1, not {attempts}")
        if attempts > len(self.delays_s):
            return None
        delay = self.delays_s[attempts - 1]
        spread = 1 + self.jitter * (2 * min(max(self.rand(), 0.0), 1.0) - 1)
        return delay * spread

    def next_due(
        self, attempts: int, *, first_attempt_at: datetime, now: datetime, retry_after_s: float | None = None
    ) -> datetime | None:
        """When the next attempt is due after `attempts` failures, or None when the notification is dead."""
        wait = self.wait_s(attempts)
        if wait is None:
            return None
        if retry_after_s is not None and wait < retry_after_s <= MAX_RETRY_AFTER_S:
            wait = retry_after_s
        due = now + timedelta(seconds=wait)
        return due if due <= first_attempt_at + self.horizon else None

    def decide(
        self,
        attempts: int,
        *,
        status_code: int | None,
        first_attempt_at: datetime,
        now: datetime,
        retry_after_s: float | None = None,
        delivered: bool | None = None,
    ) -> Decision:
        """What becomes of a notification after its `attempts`-th attempt answered `status_code`.

        `delivered` overrides the status (a robot answers 200 with an error code in its body);
        None means "a 2xx delivered". Any other answer, no answer (timeout, refused connection,
        a redirect, which is never followed) is retried, except 410.
        """
        ok = delivered if delivered is not None else status_code is not None and 200 <= status_code < 300
        if ok:
            return Decision(Outcome.delivered)
        if status_code == 410:
            return Decision(Outcome.gone)
        due = self.next_due(attempts, first_attempt_at=first_attempt_at, now=now, retry_after_s=retry_after_s)
        return Decision(Outcome.dead) if due is None else Decision(Outcome.retry, due)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a `Retry-After` header asks to wait (delta-seconds or an HTTP date), None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": RFC 5322's unknown zone; HTTP dates are GMT
        return None
    return max((when - now).total_seconds(), 0.0)
