"""Least privilege: each service connects as its own role, which can use its own schema and no other."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import make_url

from deploy.local.system import MIGRATED


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def urls(system) -> dict[str, str]:
    return {name: _dsn(system.env[f"DD_{name.upper()}_DATABASE_URL"]) for name in MIGRATED}


async def test_each_service_runs_as_its_own_role(system, urls):
    for name in MIGRATED:
        assert make_url(urls[name]).username == f"dd_{name}"
    owner = make_url(system.env["DD_MIGRATION_DATABASE_URL"]).username
    assert owner == "dd_owner" and owner not in {make_url(u).username for u in urls.values()}


async def test_ingest_role_reads_its_own_tables_and_not_evidence_tables(system, urls):
    connection = await asyncpg.connect(urls["ingest"])
    try:
        assert await connection.fetchval("SELECT count(*) >= 0 FROM ingest.cases")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.fetch("SELECT * FROM evidence.evidence_items LIMIT 1")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.fetch("SELECT * FROM deadline.deadlines LIMIT 1")
        # Nor can it change its schema's shape: that is the owner's, through migrations.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("CREATE TABLE ingest.smuggled (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute("DROP TABLE ingest.cases")
    finally:
        await connection.close()


async def test_every_role_is_kept_out_of_every_other_schema(system, urls):
    for name in MIGRATED:
        connection = await asyncpg.connect(urls[name])
        try:
            readable = {
                row["nspname"]
                for row in await connection.fetch(
                    "SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])"
                    " AND has_schema_privilege(nspname, 'USAGE')",
                    list(MIGRATED),
                )
            }
            assert readable == {name}, f"dd_{name} can use {sorted(readable)}"
        finally:
            await connection.close()
