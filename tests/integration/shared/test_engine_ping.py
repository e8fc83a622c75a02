"""The pool's ping on checkout (shared/db/engine.py) across a real PostgreSQL restart."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from shared.db.engine import FRESH_S, create_engine, session_factory
from shared.db.session import session_scope


async def backend_pids(sessions, n: int) -> set[int]:
    """Hold n pooled connections at once and return their server process ids."""

    async def one() -> int:
        async with session_scope(sessions) as session:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await asyncio.sleep(0.2)  # keep it checked out while the others are taken
            return pid

    return set(await asyncio.gather(*(one() for _ in range(n))))


@pytest.mark.parametrize("immediate", [False, True], ids=["pg_ctl_fast", "pg_ctl_immediate"])
async def test_every_pooled_connection_works_after_a_postgres_restart(infra, immediate):
    if infra.local is None:
        pytest.fail("this test restarts PostgreSQL; run it against the project's local servers")
    engine = create_engine(infra.database_url, pool_size=3)
    sessions = session_factory(engine)
    try:
        before = await backend_pids(sessions, 3)  # three connections back in the pool
        await asyncio.to_thread(infra.local.stop_postgres, immediate=immediate)
        await asyncio.to_thread(infra.local.start_postgres)
        # No request fails: each dead connection is found by the ping and replaced.
        after = await backend_pids(sessions, 3)
        assert len(after) == 3 and not after & before
        again = await backend_pids(sessions, 3)  # used moments ago: handed out as they are
        assert again == after
    finally:
        await engine.dispose()


async def test_a_connection_idle_past_the_fresh_window_is_pinged_and_kept_when_alive(infra):
    engine = create_engine(infra.database_url, pool_size=1)
    sessions = session_factory(engine)
    try:
        (first,) = await backend_pids(sessions, 1)
        await asyncio.sleep(FRESH_S * 2)
        (second,) = await backend_pids(sessions, 1)
        assert second == first  # the ping answered: not replaced
    finally:
        await engine.dispose()
