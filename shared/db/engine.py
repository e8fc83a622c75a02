"""Async engine and session factory; nothing connects until first use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def create_engine(url: str, *, pool_size: int = 10, application_name: str = "dispute-desk") -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # Not `pool_pre_ping`: with asyncpg it is three round trips per checkout (BEGIN, `;`,
        # ROLLBACK), ~7 % of an ingest webhook's CPU. `_drop_closed` does its job for free.
        connect_args={"server_settings": {"application_name": application_name}, "timeout": 5},
    )
    event.listen(engine.sync_engine.pool, "checkout", _drop_closed)
    return engine


def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Survive a PostgreSQL restart without a failed request: a pooled connection the server
    closed (restart, `pg_terminate_backend`, idle timeout) is refused at checkout, and the pool
    opens a new one (up to three tries, as with a failed pre-ping).

    asyncpg keeps reading every open socket, so the server's FATAL and EOF mark the connection
    closed as soon as the event loop has seen them; what a pre-ping would catch beyond that (a
    server that vanished without closing its sockets) it only catches after a timeout either way.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
