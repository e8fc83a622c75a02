"""A deployment's one-shot database set-up: compose's `migrate` service, Kubernetes' init Job.

    python -m deploy.bootstrap        (then `dd topics --partitions N --replication-factor R`)

1. With `DD_BOOTSTRAP_ADMIN_DATABASE_URL` (a superuser of the server, or a managed server's admin):
   the owner `dd_owner` and each service's role `dd_<service>` (shared/db/roles.py `ensure_roles`),
   each given the password its URL carries (`DD_MIGRATION_DATABASE_URL`, `DD_<SERVICE>_DATABASE_URL`),
   so the Secrets that hold those URLs are the one place passwords live. Without it the roles must
   exist already (a database team made them) and this step is skipped.
2. Every service's migrations side by side as the owner, each granting its service's role its schema:
   the same `migrate_services` as `make run` (deploy/local/system.py).

Every step is idempotent: the Job may run again on each release.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from pathlib import Path
from typing import ClassVar

import typer
from sqlalchemy import make_url

from deploy.local.system import MIGRATED, migrate_services
from shared.db.roles import OWNER_ROLE, ensure_roles, service_role, set_passwords
from shared.db.tls import database_ssl
from shared.logging import configure_logging
from shared.settings import ServiceSettings


class BootstrapSettings(ServiceSettings):
    service: ClassVar[str] = "bootstrap"

    # A superuser's URL: creates the roles and sets their passwords. Unset: the roles exist already.
    admin_database_url: str | None = None


def service_settings(name: str) -> ServiceSettings:
    settings: ServiceSettings = importlib.import_module(f"services.{name}.settings").Settings()
    return settings


def role_passwords(settings: BootstrapSettings, services: dict[str, ServiceSettings]) -> dict[str, str]:
    """Each role's password as its URL carries it; a role whose URL has none is left as it is."""
    urls = {service_role(name): s.database_url for name, s in services.items()}
    if settings.migration_database_url:
        urls[OWNER_ROLE] = settings.migration_database_url
    passwords: dict[str, str] = {}
    for role, url in urls.items():
        parsed = make_url(url)
        if parsed.username != role:
            raise typer.BadParameter(f"the URL meant for role {role} logs in as {parsed.username!r}")
        if parsed.password:
            passwords[role] = str(parsed.password)
    return passwords


def bootstrap() -> None:
    settings = BootstrapSettings()
    configure_logging("bootstrap", settings.log_level)
    if settings.migration_database_url is None:
        raise typer.BadParameter("set DD_MIGRATION_DATABASE_URL: the migrations run as the schemas' owner")
    services = {name: service_settings(name) for name in MIGRATED}
    if settings.admin_database_url:
        ssl = database_ssl(settings)
        asyncio.run(ensure_roles(settings.admin_database_url, MIGRATED, adopt_schemas=False, ssl=ssl))
        passwords = role_passwords(settings, services)
        asyncio.run(set_passwords(settings.admin_database_url, passwords, ssl=ssl))
        typer.echo(f"roles: {OWNER_ROLE} and {', '.join(map(service_role, MIGRATED))} ({len(passwords)} passwords set)")
    migrate_services(os.environ, cwd=Path.cwd())
    typer.echo(f"migrated: {', '.join(MIGRATED)}")


if __name__ == "__main__":
    typer.run(bootstrap)
