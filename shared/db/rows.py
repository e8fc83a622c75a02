"""The two row operations every service's case table needs, written once: insert a row unless its
key exists (an event redelivered or repeated), and read one row by its key, optionally locked
`FOR UPDATE` (one dispute's writes and outgoing events stay in order)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_new(session: AsyncSession, table: Table, values: dict[str, Any], *, key: str) -> bool:
    """Insert `values` into `table`; False (nothing written) when a row with the same `key` exists."""
    column = table.c[key]
    stmt = pg_insert(table).values(**values).on_conflict_do_nothing(index_elements=[key]).returning(column)
    return (await session.execute(stmt)).first() is not None


async def row_by_key(
    session: AsyncSession, table: Table, value: Any, *, key: str, lock: bool = False
) -> Row[Any] | None:
    """The row of `table` whose `key` is `value`, or None; `lock` takes it FOR UPDATE."""
    query = select(table).where(table.c[key] == value)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).first()
