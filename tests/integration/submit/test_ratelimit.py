"""The per-seller portal rate limit shared by replicas: a token bucket row, one UPDATE per call.

Two limiters on two engines (two replicas) take tokens for one seller at once: the grants never
exceed the rate in any one-second window (burst 1: evenly spaced) and are not much slower than it;
another seller's bucket is not held up by the first's.
"""

from __future__ import annotations

import asyncio
import time

from services.submit.ratelimit import PortalRateLimit
from shared.db.engine import create_engine
from tests.integration.submit.conftest import Submit

RATE = 20.0


async def test_two_replicas_together_stay_under_the_rate_and_use_it(submit: Submit) -> None:
    replicas = [
        PortalRateLimit(create_engine(submit.settings.database_url, pool_size=4), rate_per_s=RATE) for _ in range(2)
    ]
    granted: list[float] = []

    async def caller(limit: PortalRateLimit, n: int) -> None:
        for _ in range(n):
            await limit.take("V-RATE")
            granted.append(time.monotonic())

    try:
        start = time.monotonic()
        await asyncio.gather(*(caller(replicas[i % 2], 10) for i in range(6)))  # 60 calls, 6 callers, 2 replicas
        elapsed = time.monotonic() - start
        other_start = time.monotonic()
        await replicas[0].take("V-OTHER")  # a fresh bucket: at once
        assert time.monotonic() - other_start < 0.5
    finally:
        for limit in replicas:
            await limit.aclose()
    granted.sort()
    # Never over: in any window of one second at most RATE grants (+1 for the closed interval).
    worst = max(sum(1 for t in granted if start_t <= t < start_t + 1.0) for start_t in granted)
    assert worst <= RATE + 1
    # Never much under: 60 calls at 20/s take about 59/20 s, and not 10 % more than that (plus slack for the test).
    assert (len(granted) - 1) / RATE * 0.9 <= elapsed <= (len(granted) - 1) / RATE * 1.1 + 0.5


async def test_try_take_says_how_long_until_a_token(submit: Submit) -> None:
    limit = PortalRateLimit(create_engine(submit.settings.database_url, pool_size=2), rate_per_s=2.0)
    try:
        assert await limit.try_take("V-WAIT") == 0.0
        wait = await limit.try_take("V-WAIT")
        assert 0.3 < wait <= 0.5
    finally:
        await limit.aclose()
