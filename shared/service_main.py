"""Command line of every service process: `python -m services.<name> [serve|migrate]`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
import uvicorn
from fastapi import FastAPI
from sqlalchemy import make_url

from shared.db.migrations import upgrade
from shared.db.tls import database_ssl
from shared.logging import configure_logging
from shared.runtime import ServiceDefinition
from shared.settings import ServiceSettings, UnsafeSettingsError


def service_cli(
    definition: ServiceDefinition[Any], settings_cls: type[ServiceSettings], create_app: Callable[..., FastAPI]
) -> typer.Typer:
    cli = typer.Typer(add_completion=False, help=f"The {definition.name} service.")

    @cli.command()
    def serve() -> None:
        """Run the HTTP API, outbox relay and consumers in this process."""
        settings = settings_cls()
        configure_logging(definition.name, settings.log_level)
        try:
            settings.ensure_safe_to_start()  # the app's lifespan checks again, for other servers
        except UnsafeSettingsError as exc:
            typer.echo(f"refusing to start: {exc}", err=True)
            raise typer.Exit(code=2) from None
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_config=None,  # keep our JSON logging
            access_log=False,
            timeout_graceful_shutdown=10,
        )

    @cli.command()
    def migrate(revision: str = "head") -> None:
        """Bring this service's schema (and only it) to `revision`."""
        settings = settings_cls()
        configure_logging(definition.name, settings.log_level)
        upgrade(
            definition.migrations,
            settings.migration_database_url or settings.database_url,
            revision,
            grant_to=runtime_role(settings),
            ssl=database_ssl(settings),
        )
        typer.echo(f"{definition.name}: schema {definition.metadata.schema} at {revision}")

    return cli


def runtime_role(settings: ServiceSettings) -> str | None:
    """The role the service runs as, when migrations run as another (the owner): it gets the schema."""
    if settings.migration_database_url is None:
        return None
    runtime = make_url(settings.database_url).username
    return runtime if runtime != make_url(settings.migration_database_url).username else None
