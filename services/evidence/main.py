"""Composition root of the evidence service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.evidence import api, models, runs
from services.evidence.context import EvidenceContext
from services.evidence.errors import ERRORS
from services.evidence.handlers import HANDLERS
from services.evidence.openapi import DOCS
from services.evidence.settings import Settings
from shared.clock import Clock
from shared.runtime import ServiceDefinition
from shared.web.app import create_service_app

DEFINITION = ServiceDefinition.of(
    models,
    migrations=Path(__file__).parent / "migrations",
    context=EvidenceContext.of,  # settings, clock, blob store, upload rules, the checker's wake-up
    handlers=HANDLERS,
    routers=[api.router],
    workers=[runs.check_worker],  # the debounced checker runs
)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """The app; `clock` (tests: a `ManualClock`) is the one its routes, handlers and worker read."""
    return create_service_app(settings or Settings(), DEFINITION, errors=ERRORS, docs=DOCS, clock=clock)
