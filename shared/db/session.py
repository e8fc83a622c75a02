"""The unit of work: the one way to commit outside HTTP (requests use `shared.web.db.DbSession`,
the same unit of work that also tells a failed commit apart from a refused request)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commits when the block ends normally, rolls back on any exception."""
    async with factory() as session, session.begin():
        yield session


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
