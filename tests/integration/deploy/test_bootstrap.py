"""The deployments' init step (`python -m deploy.bootstrap`, compose's `migrate`, the Job's init
container) on a fresh database of the real server: roles with the passwords their URLs carry, every
schema owned by dd_owner and usable by its service's role alone; run twice, as every release does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.local.system import MIGRATED
from shared.db.roles import OWNER_ROLE, service_role, with_user

PASSWORDS = {OWNER_ROLE: "owner-pw", **{service_role(s): f"{s}-pw'quote" for s in MIGRATED}}


def scram_matches(stored: str, password: str) -> bool:
    """PostgreSQL's SCRAM-SHA-256 verifier (pg_authid.rolpassword) against a clear-text password."""
    method, rest = stored.split("$", 1)
    assert method == "SCRAM-SHA-256"
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, _server_key = keys.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest() == base64.b64decode(stored_key)


@pytest.fixture
async def database(infra):
    name = f"dd_boot_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(infra.database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(infra.database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            for role in PASSWORDS:  # the roles are the server's: leave them as the other tests know them
                await connection.execute(text(f'ALTER ROLE "{role}" PASSWORD NULL'))
        await admin.dispose()


def with_password(url: str, role: str) -> str:
    return make_url(with_user(url, role)).set(password=PASSWORDS[role]).render_as_string(hide_password=False)


def bootstrap(env: dict[str, str], cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy.bootstrap"], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )


async def test_roles_passwords_and_every_schema_twice(database, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DD_")},
        "PYTHONPATH": os.getcwd(),  # this checkout, as the image's site-packages would be
        "DD_BOOTSTRAP_ADMIN_DATABASE_URL": database,
        "DD_MIGRATION_DATABASE_URL": with_password(database, OWNER_ROLE),
        **{f"DD_{s.upper()}_DATABASE_URL": with_password(database, service_role(s)) for s in MIGRATED},
    }
    for _ in range(2):
        done = bootstrap(env, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{len(PASSWORDS)} passwords set" in done.stdout and "migrated: " + ", ".join(MIGRATED) in done.stdout

    engine = create_async_engine(database)
    try:
        async with engine.connect() as connection:
            stored = dict(
                (
                    await connection.execute(
                        text("SELECT rolname, rolpassword FROM pg_authid WHERE rolname LIKE 'dd_%'")
                    )
                ).all()
            )
            for role, password in PASSWORDS.items():
                assert scram_matches(stored[role], password), role
                assert not scram_matches(stored[role], password + "x")
            owners = dict(
                (
                    await connection.execute(
                        text("SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = ANY(:s)"),
                        {"s": list(MIGRATED)},
                    )
                ).all()
            )
            assert owners == {s: OWNER_ROLE for s in MIGRATED}
            for service in MIGRATED:
                for schema in MIGRATED:
                    may = (
                        await connection.execute(
                            text("SELECT has_schema_privilege(:r, :s, 'USAGE')"),
                            {"r": service_role(service), "s": schema},
                        )
                    ).scalar_one()
                    assert may is (service == schema), (service, schema)
    finally:
        await engine.dispose()


def test_a_url_that_logs_in_as_another_role_is_refused(database, tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DD_")},
        "PYTHONPATH": os.getcwd(),
        "DD_BOOTSTRAP_ADMIN_DATABASE_URL": database,
        "DD_MIGRATION_DATABASE_URL": with_password(database, OWNER_ROLE),
        **{f"DD_{s.upper()}_DATABASE_URL": with_password(database, service_role(s)) for s in MIGRATED},
        "DD_NOTIFY_DATABASE_URL": with_password(database, service_role("ingest")),
    }
    done = bootstrap(env, tmp_path)
    assert done.returncode != 0
    assert "dd_notify" in done.stderr and "'dd_ingest'" in done.stderr
