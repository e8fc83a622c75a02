"""`call_after_commit`: a background worker is woken only once the rows it must see exist."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db.engine import session_factory
from shared.db.session import call_after_commit, session_scope


async def test_the_callback_runs_once_after_the_commit_however_often_it_was_asked_for(engine: AsyncEngine):
    woken: list[str] = []
    async with session_scope(session_factory(engine)) as session:
        await session.execute(text("SELECT 1"))
        for _ in range(3):
            call_after_commit(session, "wake", lambda: woken.append("wake"))
        assert woken == []  # not before the commit
    assert woken == ["wake"]


async def test_a_rolled_back_transaction_wakes_nobody_but_a_rolled_back_savepoint_keeps_the_wake(
    engine: AsyncEngine,
):
    woken: list[str] = []
    with pytest.raises(RuntimeError):
        async with session_scope(session_factory(engine)) as session:
            call_after_commit(session, "wake", lambda: woken.append("rolled back"))
            raise RuntimeError("the request failed")
    assert woken == []

    async with session_scope(session_factory(engine)) as session:
        call_after_commit(session, "wake", lambda: woken.append("committed"))
        savepoint = await session.begin_nested()
        await session.execute(text("SELECT 1"))
        await savepoint.rollback()  # a parked event's savepoint, say: the outer transaction goes on
        call_after_commit(session, "wake", lambda: woken.append("registered twice"))
    assert woken == ["committed"]


async def test_a_session_used_for_two_transactions_wakes_after_each(engine: AsyncEngine):
    woken: list[int] = []
    async with session_factory(engine)() as session:
        for n in (1, 2):
            async with session.begin():
                await session.execute(text("SELECT 1"))
                call_after_commit(session, "wake", lambda n=n: woken.append(n))
    assert woken == [1, 2]
