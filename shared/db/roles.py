"""Least privilege in PostgreSQL: one login role per service, able to use its own schema only.

- `dd_owner` runs the migrations (`DD_MIGRATION_DATABASE_URL`): it creates and owns every
  service schema and may create schemas in the database, nothing else;
- `dd_ingest`, `dd_evidence`, … are what the services connect as (`DD_<SERVICE>_DATABASE_URL`):
  rows in their own schema (select, insert, update, delete), its sequences and functions, and
  nothing in any other schema: ingest's role cannot read evidence's tables.

A migration grants the service's role its schema (`grant_statements`, run by `migrate` in the
migration's transaction), so a table added later is granted as it is created. Passwords are the
deployment's business (Kubernetes Secrets); the local servers trust loopback connections.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ssl import SSLContext

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db.tls import ssl_connect_args

OWNER_ROLE = "dd_owner"


def service_role(service: str) -> str:
    return f"dd_{service}"


def with_user(database_url: str, user: str) -> str:
    """The same server and database as `database_url`, as `user`."""
    return make_url(database_url).set(username=user).render_as_string(hide_password=False)


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain PostgreSQL name: {name!r}")
    return f'"{name}"'


def grant_statements(schema: str, role: str) -> list[str]:
    """What the service's role may do in its schema: use it, its rows, sequences and functions."""
    s, r = _ident(schema), _ident(role)
    return [
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {s} TO {r}",
    ]


def _create_role(role: str) -> str:
    # Idempotent, and safe when two processes create it at once (the loser's error is swallowed).
    return f"""
DO $$ BEGIN
    CREATE ROLE {_ident(role)} LOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$"""


def _adopt_schema(schema: str) -> str:
    """Make `dd_owner` own a schema (and what is in it) that an earlier superuser migration created."""
    return f"""
DO $$ DECLARE item record; BEGIN
    IF EXISTS (SELECT FROM pg_namespace WHERE nspname = '{schema}'
               AND pg_get_userbyid(nspowner) <> '{OWNER_ROLE}') THEN
        EXECUTE 'ALTER SCHEMA {_ident(schema)} OWNER TO {OWNER_ROLE}';
        FOR item IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
                      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
        LOOP
            EXECUTE format('ALTER %s %I.%I OWNER TO {OWNER_ROLE}',
                           CASE item.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                           '{schema}', item.relname);
        END LOOP;
        FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname = '{schema}'
        LOOP
            EXECUTE format('ALTER ROUTINE %s OWNER TO {OWNER_ROLE}', item.signature);
        END LOOP;
    END IF;
END $$"""


async def ensure_roles(
    admin_url: str, services: Iterable[str], *, adopt_schemas: bool = True, ssl: SSLContext | None = None
) -> None:
    """Create the owner and the services' roles (idempotent), as a superuser of the server.

    The owner may create schemas in the database; with `adopt_schemas`, a schema an older run
    migrated as the superuser is handed to the owner, so existing local data keeps working.
    """
    services = list(services)
    database = make_url(admin_url).database
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args=ssl_connect_args(ssl))
    try:
        async with engine.connect() as connection:
            for role in [OWNER_ROLE, *map(service_role, services)]:
                await connection.execute(text(_create_role(role)))
            await connection.execute(text(f"GRANT CREATE, CONNECT ON DATABASE {_ident(str(database))} TO {OWNER_ROLE}"))
            for service in services if adopt_schemas else ():
                await connection.execute(text(_adopt_schema(service)))
    finally:
        await engine.dispose()


def _literal(value: str) -> str:
    """A PostgreSQL string literal (ALTER ROLE takes no bind parameters)."""
    if "\x00" in value:
        raise ValueError("a password cannot contain NUL")
    return "'" + value.replace("'", "''") + "'"


async def set_passwords(admin_url: str, passwords: Mapping[str, str], *, ssl: SSLContext | None = None) -> None:
    """Give each role its password, as a superuser: where the server checks passwords (a container's
    PostgreSQL, a managed one), the roles `ensure_roles` made log in with what the deployment's
    Secrets hold. Idempotent: the same password set again changes nothing."""
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args=ssl_connect_args(ssl))
    try:
        async with engine.connect() as connection:
            for role, password in passwords.items():
                await connection.execute(text(f"ALTER ROLE {_ident(role)} PASSWORD {_literal(password)}"))
    finally:
        await engine.dispose()
