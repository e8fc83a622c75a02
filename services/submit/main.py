"""Composition root of the submit service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.submit import api, models
from services.submit.context import SubmitContext
from services.submit.errors import ERRORS
from services.submit.handlers import HANDLERS
from services.submit.openapi import DOCS
from services.submit.settings import Settings
from services.submit.workers import portal_worker
from shared.clock import Clock
from shared.runtime import ServiceDefinition
from shared.web.app import create_service_app

DEFINITION = ServiceDefinition.of(
    models,
    migrations=Path(__file__).parent / "migrations",
    context=SubmitContext.of,  # settings, clock, package store, portal rate limit, evidence client, wake-up
    handlers=HANDLERS,
    routers=[api.router],
    workers=[portal_worker],  # the reconciler and the verdict poller
)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The app; `clock` (tests: a `ManualClock`) is the one its routes, handlers and workers read."""
    return create_service_app(settings or Settings(), DEFINITION, errors=ERRORS, docs=DOCS, clock=clock)
