"""Composition root of the ingest service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.ingest import api, dashboard, models
from services.ingest.context import IngestContext
from services.ingest.errors import ERRORS
from services.ingest.handlers import HANDLERS
from services.ingest.openapi import DOCS
from services.ingest.settings import Settings
from shared.clock import Clock
from shared.runtime import ServiceDefinition
from shared.web.app import create_service_app

DEFINITION = ServiceDefinition.of(
    models,
    migrations=Path(__file__).parent / "migrations",
    context=IngestContext.of,  # settings, clock, the secret box
    handlers=HANDLERS,
    routers=[api.router, dashboard.router],  # the dashboard's pages are not in the API document
)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The app; `clock` (tests: a `ManualClock`) is the one its routes and handlers read."""
    return create_service_app(settings or Settings(), DEFINITION, errors=ERRORS, docs=DOCS, clock=clock)
