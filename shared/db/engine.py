"""Async engine and session factory; nothing connects until first use."""

from __future__ import annotations

import time
from ssl import SSLContext
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from shared.db.tls import ssl_connect_args

# A connection back in the pool less than this long ago, and not closed by the server since, is
# handed out without a ping: a server that stopped has closed it (asyncpg sees the socket close),
# and a server that is down fails the statement as it would fail the ping.
FRESH_S = 0.25


def create_engine(
    url: str, *, pool_size: int = 10, application_name: str = "dispute-desk", ssl: SSLContext | None = None
) -> AsyncEngine:
    """`ssl`: TLS to the server (shared/db/tls.py `database_ssl`); None connects as the URL says."""
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,  # our own, cheaper one below
        # The connection used last goes out first: under light load the same few stay warm (and
        # skip the ping), the rest idle, instead of every connection taking turns.
        pool_use_lifo=True,
        connect_args={
            "server_settings": {"application_name": application_name},
            "timeout": 5,
            **ssl_connect_args(ssl),
        },
    )
    _ping_on_checkout(engine)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _ping_on_checkout(engine: AsyncEngine) -> None:
    """Survive a PostgreSQL restart without a failed request: a pooled connection is pinged before
    use, as `pool_pre_ping` does, but with one round trip instead of its three (BEGIN, ";",
    ROLLBACK, for pgbouncer's transaction mode, which we do not use), and not at all when it was
    in use a moment ago. Under load that was ~7 % of a worker's CPU and 3 of ~8 round trips of an
    event's transaction (bench/RESULTS.md). A dead connection makes the pool drop every connection
    it holds (they died with the same server) and connect again, as SQLAlchemy documents for
    pessimistic disconnect handling."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["dd_returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        try:
            if dbapi_connection.driver_connection.is_closed():  # the server said goodbye, or the socket closed
                raise ConnectionError("closed by the server")
            returned = record.info.get("dd_returned_at")
            if returned is None or time.monotonic() - returned >= FRESH_S:
                dbapi_connection.run_async(lambda connection: connection.fetchrow(";"))
        except Exception as exc:
            dead = DisconnectionError(f"pooled connection is dead: {exc!r}")
            dead.invalidate_pool = True
            raise dead from exc
