"""The engine's pool hands out no connection the server has closed (instead of a pre-ping)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from shared.db.engine import create_engine, session_factory
from shared.db.session import session_scope


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
