"""`driver_connection`: asyncpg under a session, in the session's own transaction.

It leans on SQLAlchemy's asyncpg adapter beginning its transaction lazily (private bookkeeping):
these tests are what says so when an upgrade changes that.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shared.db.session import driver_connection, session_scope
from tests.conftest import Scratch


async def _count(scratch: Scratch, key: str) -> int:
    async with session_scope(scratch.sessions) as session:
        query = text(f'SELECT count(*) FROM "{scratch.schema}".outbox WHERE key = :key')
        return (await session.execute(query, {"key": key})).scalar_one()


def _insert(scratch: Scratch) -> str:
    return f"""INSERT INTO "{scratch.schema}".outbox (event_id, topic, key, payload)
               VALUES (gen_random_uuid(), 't', $1, '\\x00')"""


async def test_what_runs_on_the_driver_connection_commits_with_the_session(scratch: Scratch):
    key = scratch.dispute_id(1)
    async with session_scope(scratch.sessions) as session:
        raw = await driver_connection(session)
        await raw.execute(_insert(scratch), key)
        # SQLAlchemy's statements run in the same transaction and see the row.
        seen = await session.execute(text(f'SELECT count(*) FROM "{scratch.schema}".outbox WHERE key = :k'), {"k": key})
        assert seen.scalar_one() == 1
        assert raw.is_in_transaction()
        assert await _count(scratch, key) == 0  # not committed yet: another session does not see it
    assert await _count(scratch, key) == 1


async def test_what_runs_on_the_driver_connection_rolls_back_with_the_session(scratch: Scratch):
    key = scratch.dispute_id(2)
    with pytest.raises(RuntimeError):
        async with session_scope(scratch.sessions) as session:
            await (await driver_connection(session)).execute(_insert(scratch), key)
            raise RuntimeError("refused")
    assert await _count(scratch, key) == 0


async def test_after_a_sqlalchemy_statement_the_driver_connection_joins_the_open_transaction(scratch: Scratch):
    key = scratch.dispute_id(3)
    with pytest.raises(RuntimeError):
        async with session_scope(scratch.sessions) as session:
            await session.execute(text("SELECT 1"))  # the adapter has begun its transaction
            await (await driver_connection(session)).execute(_insert(scratch), key)
            raise RuntimeError("refused")
    assert await _count(scratch, key) == 0


@pytest.mark.parametrize("first", [True, False], ids=["savepoint_first", "savepoint_after_a_statement"])
async def test_what_runs_on_the_driver_connection_in_a_savepoint_rolls_back_with_it(scratch: Scratch, first: bool):
    # A parked handler runs in a SAVEPOINT and writes the outbox through the driver connection:
    # when it defers, the savepoint's rollback must take that row with it, and keep the rest.
    kept, undone = scratch.dispute_id(4 if first else 6), scratch.dispute_id(5 if first else 7)
    async with session_scope(scratch.sessions) as session:
        if not first:
            await (await driver_connection(session)).execute(_insert(scratch), kept)
        savepoint = await session.begin_nested()
        await (await driver_connection(session)).execute(_insert(scratch), undone)
        await savepoint.rollback()
        if first:
            await (await driver_connection(session)).execute(_insert(scratch), kept)
    assert (await _count(scratch, kept), await _count(scratch, undone)) == (1, 0)
