"""Composition root of the deadline service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.deadline import api, models
from shared.clock import Clock, SystemClock
from services.deadline.context import DeadlineContext, attach
from services.deadline.errors import ERRORS
from services.deadline.handlers import HANDLERS
from services.deadline.openapi import DOCS
from services.deadline.scheduler import scheduler
from services.deadline.settings import Settings
from shared.runtime import ServiceDefinition
from shared.web.app import create_service_app

DEFINITION = ServiceDefinition.of(
    models,
    migrations=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
    routers=[api.router],
    workers=[scheduler],
)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(settings, DEFINITION, errors=ERRORS, docs=DOCS)
    context = DeadlineContext(settings, clock=clock or SystemClock())
    attach(app.state.runtime.sessions, context)  # handlers and the scheduler find it through their sessions
    app.state.deadline = context
    return app
