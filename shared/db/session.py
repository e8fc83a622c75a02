"""The unit of work: the one way to commit outside HTTP (requests use `shared.web.db.DbSession`,
the same unit of work that also tells a failed commit apart from a refused request)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commits when the block ends normally, rolls back on any exception."""
    async with factory() as session, session.begin():
        yield session


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under `session`, inside the session's transaction (begun if need be).

    For a hot path whose statements are worth running without SQLAlchemy (a webhook: about a
    third of its CPU was SQLAlchemy's per-statement work). What runs on it commits or rolls back
    with the session, as its own statements do; the caller never commits or rolls back here.
    Parameters and rows are asyncpg's: JSON and JSONB go in as JSON text and come out decoded
    (the dialect's codecs), timestamps as aware datetimes, UUIDs as `uuid.UUID`.
    """
    connection = await session.connection()
    adapted: Any = (await connection.get_raw_connection()).dbapi_connection
    # SQLAlchemy's asyncpg adapter begins its transaction lazily, at its first statement: begin it
    # now, the adapter's way, so it commits or rolls it back at the end. There is no public way
    # (SQLAlchemy 2.1): the adapter starts it only inside a cursor's execute, so the public route
    # is a statement through SQLAlchemy first, which costs a round trip (the webhook's four would
    # be five) or the Python cost this helper exists to avoid. So this leans on the private
    # `_transaction` / `_start_transaction`, and tests/integration/shared/test_driver_connection.py
    # is the guard that fails when an upgrade changes them.
    if adapted._transaction is None:
        await adapted._start_transaction()
    driver: asyncpg.Connection = adapted.driver_connection
    return driver


_AFTER_COMMIT_KEYS = "dd_after_commit_keys"


def call_after_commit(session: AsyncSession, key: str, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's current transaction commits; nothing on a rollback.

    For in-process wake-ups of background workers (a scheduler, a debouncer): they must not look
    before the rows exist. `key` makes repeated calls in one transaction register one callback.
    """
    sync = session.sync_session
    keys: set[str] = sync.info.setdefault(_AFTER_COMMIT_KEYS, set())
    if key in keys:
        return
    keys.add(key)

    live = True  # listeners cannot be removed while SQLAlchemy dispatches: they go quiet instead

    def committed(_: Any) -> None:
        nonlocal live
        if live:
            live = False
            keys.discard(key)
            callback()

    def rolled_back(_: Any, __: Any) -> None:
        nonlocal live
        if live and not sync.is_active:  # the whole transaction, not a savepoint within it
            live = False
            keys.discard(key)

    event.listen(sync, "after_commit", committed)
    event.listen(sync, "after_soft_rollback", rolled_back)
