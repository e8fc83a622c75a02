"""The pool's checks on checkout (shared/db/engine.py): across a real PostgreSQL restart, a connection
the server closed, one idle past the fresh window, one in use."""

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


async def test_a_connection_the_server_closed_is_replaced_at_checkout_without_a_failed_query(infra):
    engine = create_engine(infra.database_url, pool_size=1, application_name="pool-test")
    sessions = session_factory(engine)
    try:
        async with session_scope(sessions) as session:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # The pooled connection (pool_size 1) is killed by the server, as a restart would.
        admin = create_engine(infra.database_url, pool_size=1, application_name="pool-test-admin")
        try:
            async with admin.begin() as conn:
                assert (await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar_one()
        finally:
            await admin.dispose()
        await asyncio.sleep(0.2)  # the event loop reads the server's FATAL and EOF
        for _ in range(3):  # every checkout works, none sees the dead connection
            async with session_scope(sessions) as session:
                new_pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            assert new_pid != pid
    finally:
        await engine.dispose()


async def test_an_open_connection_is_reused(infra):
    engine = create_engine(infra.database_url, pool_size=1, application_name="pool-test")
    sessions = session_factory(engine)
    try:
        pids = set()
        for _ in range(3):
            async with session_scope(sessions) as session:
                pids.add((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        assert len(pids) == 1
    finally:
        await engine.dispose()
