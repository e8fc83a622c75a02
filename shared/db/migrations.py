"""Alembic, once for all services: each service's `migrations/env.py` calls `run_env(metadata)`.

Each service's version table lives inside its own schema, and autogenerate/upgrade only ever
look at that schema, so a service never touches another's tables.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from ssl import SSLContext

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db.backbone import backbone_tables, parked_table
from shared.db.roles import grant_statements
from shared.db.tls import ssl_connect_args

VERSION_TABLE = "alembic_version"


def alembic_config(script_location: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(
    script_location: Path,
    database_url: str,
    revision: str = "head",
    *,
    grant_to: str | None = None,
    ssl: SSLContext | None = None,
) -> None:
    """Migrate one service's schema (blocking; call from a thread inside an event loop).

    `grant_to`: the service's own role (shared/db/roles.py), granted its schema in the same
    transaction, so each table a migration adds is usable by the service and by no one else.
    `ssl`: TLS to the server (shared/db/tls.py), as the service's own engine connects."""
    config = alembic_config(script_location, database_url)
    config.attributes["grant_to"] = grant_to
    config.attributes["ssl"] = ssl
    command.upgrade(config, revision)


def run_env(target_metadata: MetaData) -> None:
    """Body of a service's env.py: online migrations of that service's schema only."""
    schema = target_metadata.schema
    if not schema:
        raise ValueError("a service's MetaData must name its schema")
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:  # alembic_config() always sets it
        raise ValueError("the alembic config names no sqlalchemy.url")

    def migrate(connection: Connection) -> None:
        # Serialise concurrent upgrades of one schema (several replicas starting together).
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"migrate:{schema}"})
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=VERSION_TABLE,
            version_table_schema=schema,
            include_schemas=False,
            include_name=lambda name, type_, parent: type_ != "schema" or name == schema,
        )
        with context.begin_transaction():
            context.run_migrations()
            if grant_to := context.config.attributes.get("grant_to"):
                for statement in grant_statements(schema, grant_to):
                    connection.execute(text(statement))

    async def run() -> None:
        engine = create_async_engine(
            url, poolclass=pool.NullPool, connect_args=ssl_connect_args(context.config.attributes.get("ssl"))
        )
        try:
            async with engine.begin() as connection:
                await connection.run_sync(migrate)
        finally:
            await engine.dispose()

    asyncio.run(run())


def create_backbone_tables(schema: str) -> None:
    """For a service's first migration: the outbox and inbox tables in its schema."""
    from alembic import op

    for table in backbone_tables(MetaData(schema=schema)):
        table.create(op.get_bind())


def drop_backbone_tables(schema: str) -> None:
    from alembic import op

    for table in backbone_tables(MetaData(schema=schema)):
        table.drop(op.get_bind())


def create_parked_table(schema: str) -> None:
    """For a service's second migration: the parked-events table (`shared.db.parking`)."""
    from alembic import op

    parked_table(MetaData(schema=schema)).create(op.get_bind())


def drop_parked_table(schema: str) -> None:
    from alembic import op

    parked_table(MetaData(schema=schema)).drop(op.get_bind())
