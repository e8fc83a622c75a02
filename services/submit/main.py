"""Composition root of the submit service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.submit import api, models
from services.submit.context import SubmitContext
from services.submit.handlers import HANDLERS
from services.submit.settings import Settings
from shared.clock import Clock
from shared.runtime import ServiceDefinition
from shared.web.app import create_service_app

DEFINITION = ServiceDefinition.of(
    models,
    migrations=Path(__file__).parent / "migrations",
    context=SubmitContext.of,
    handlers=HANDLERS,
    routers=[api.router],
)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    return create_service_app(settings or Settings(), DEFINITION, clock=clock)
