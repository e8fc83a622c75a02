"""Composition root of the ingest service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.ingest import api, models
from services.ingest.errors import ERRORS
from services.ingest.handlers import HANDLERS
from services.ingest.openapi import DOCS
from services.ingest.secretbox import SecretBox
from services.ingest.settings import Settings
from shared.runtime import ServiceDefinition
from shared.web.app import create_service_app

DEFINITION = ServiceDefinition.of(
    models, migrations=Path(__file__).parent / "migrations", handlers=HANDLERS, routers=[api.router]
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(settings, DEFINITION, errors=ERRORS, docs=DOCS)
    app.state.secret_box = SecretBox(settings.secret_key)  # webhook secrets at rest (secretbox.py)
    return app
