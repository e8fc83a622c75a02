"""The engine's TLS setting reaches asyncpg (shared/db/tls.py): the local server speaks no TLS, so a
`require` engine is refused by it while the default one connects as always."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shared.db.engine import create_engine
from shared.db.tls import database_ssl_context


async def test_require_asks_the_server_for_tls_and_disable_does_not(infra):
    plain = create_engine(infra.database_url, pool_size=1, ssl=database_ssl_context("disable"))
    encrypted = create_engine(infra.database_url, pool_size=1, ssl=database_ssl_context("require"))
    try:
        async with plain.connect() as connection:
            assert (
                await connection.execute(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
            ).scalar_one() is False
        with pytest.raises(Exception, match="(?i)ssl"):
            async with encrypted.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await plain.dispose()
        await encrypted.dispose()
