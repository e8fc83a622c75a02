"""Composition root of the notify service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.notify import api, models
from services.notify.context import NotifyContext
from services.notify.dispatcher import dispatcher
from services.notify.errors import ERRORS
from services.notify.handlers import HANDLERS
from services.notify.openapi import DOCS
from services.notify.settings import Settings
from shared.clock import Clock
from shared.runtime import ServiceDefinition
from shared.web.app import create_service_app

DEFINITION = ServiceDefinition.of(
    models,
    migrations=Path(__file__).parent / "migrations",
    context=NotifyContext.of,  # settings, clock, secret box, renderer, sender, retry schedule, wake-up, metrics
    handlers=HANDLERS,
    routers=[api.router],
    workers=[dispatcher],
)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The app; `clock` (tests: a `ManualClock`) is the one its routes, handlers and dispatcher read."""
    return create_service_app(settings or Settings(), DEFINITION, errors=ERRORS, docs=DOCS, clock=clock)
