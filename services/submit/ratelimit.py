"""At most N portal calls per second per seller, across every replica: a token bucket row in PostgreSQL.

`PortalRateLimit.try_take(seller_id)` is ONE statement, in its own autocommitted transaction (its
own small engine, never a request's transaction: a row lock held across a portal call would
serialise the seller's calls behind the slowest one). The row holds `tokens` and when it was
last updated; the statement refills by the time elapsed (the DATABASE's clock, `clock_timestamp()`,
the one clock every replica shares), caps at `burst`, and takes one token only if one is there:

    INSERT ... VALUES (seller, burst - 1, now) ON CONFLICT (seller_id) DO UPDATE
      SET tokens = refill - 1, updated_at = now WHERE refill >= 1 RETURNING ...

No row back means no token: `take` sleeps for the time one token takes to refill (`1 / rate`, or
less when the bucket is nearly there) and tries again. With `burst = 1` (the default) the calls are
evenly spaced, so no one-second window sees more than `rate` of them, whatever the replicas do.

`RateLimitedTransport` puts the limit under the http adapter's client: every try (a retry, a
status query) takes its token, not only the first.
"""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.submit import models
from shared.db.backbone import qualified_name

_TABLE = qualified_name(models.portal_buckets)

_TAKE = text(
    f"""
    WITH now AS (SELECT clock_timestamp() AS at)
    INSERT INTO {_TABLE} AS bucket (seller_id, tokens, updated_at)
    SELECT :seller_id, :burst - 1, now.at FROM now
    ON CONFLICT (seller_id) DO UPDATE
       SET tokens = least(:burst, bucket.tokens
                     + greatest(0, extract(epoch FROM (excluded.updated_at - bucket.updated_at))) * :rate) - 1,
           updated_at = greatest(bucket.updated_at, excluded.updated_at)
     WHERE least(:burst, bucket.tokens
                 + greatest(0, extract(epoch FROM (excluded.updated_at - bucket.updated_at))) * :rate) >= 1
    RETURNING tokens
    """
)

_LEVEL = text(
    f"""
    SELECT least(:burst, tokens + greatest(0, extract(epoch FROM (clock_timestamp() - updated_at))) * :rate)
      FROM {_TABLE} WHERE seller_id = :seller_id
    """
)


class PortalRateLimit:
    def __init__(self, engine: AsyncEngine, *, rate_per_s: float, burst: float = 1.0) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be positive and burst at least 1")
        self.engine = engine
        self.rate = float(rate_per_s)
        self.burst = float(burst)

    async def try_take(self, seller_id: str) -> float:
        """0 when a token was taken; else the seconds until one is there (nothing taken)."""
        params = {"seller_id": seller_id, "burst": self.burst, "rate": self.rate}
        async with self.engine.begin() as conn:
            taken = (await conn.execute(_TAKE, params)).first()
            if taken is not None:
                return 0.0
            level = (await conn.execute(_LEVEL, params)).scalar()
        missing = 1.0 - float(level if level is not None else 0.0)
        return max(missing / self.rate, 0.001)

    async def take(self, seller_id: str) -> None:
        """Wait until a token of `seller_id`'s bucket is taken."""
        while True:
            wait = await self.try_take(seller_id)
            if wait <= 0:
                return
            await asyncio.sleep(wait)  # a token refills at a known time: nothing to wait on but the clock

    async def aclose(self) -> None:
        await self.engine.dispose()


class RateLimitedTransport(httpx.AsyncBaseTransport):
    """Every request through it first takes one of the seller's tokens."""

    def __init__(self, limit: PortalRateLimit, seller_id: str, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._limit = limit
        self._seller_id = seller_id
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._limit.take(self._seller_id)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
