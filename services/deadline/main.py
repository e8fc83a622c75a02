"""Composition root of the deadline service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.deadline import api, models
from services.deadline.context import DeadlineContext
from services.deadline.errors import ERRORS
from services.deadline.handlers import HANDLERS
from services.deadline.openapi import DOCS
from services.deadline.scheduler import scheduler
from services.deadline.settings import Settings
from shared.clock import Clock
from shared.runtime import ServiceDefinition
from shared.web.app import create_service_app

DEFINITION = ServiceDefinition.of(
    models,
    migrations=Path(__file__).parent / "migrations",
    context=DeadlineContext.of,  # settings, clock, calendar cache, the scheduler's wake-up
    handlers=HANDLERS,
    routers=[api.router],
    workers=[scheduler],
)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The app; `clock` (tests: a `ManualClock`) is the one its routes, handlers and scheduler read."""
    return create_service_app(settings or Settings(), DEFINITION, errors=ERRORS, docs=DOCS, clock=clock)
