"""Composition root of the evidence service."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.evidence import api, models, runs
from services.evidence.blobs import LocalBlobStore
from services.evidence.errors import ERRORS
from services.evidence.handlers import HANDLERS
from services.evidence.openapi import DOCS
from services.evidence.settings import Settings
from services.evidence.uploads import UploadRules
from shared.runtime import ServiceDefinition
from shared.web.app import create_service_app

DEFINITION = ServiceDefinition.of(
    models,
    migrations=Path(__file__).parent / "migrations",
    handlers=HANDLERS,
    routers=[api.router],
    workers=[runs.check_worker],  # the debounced checker runs
)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(settings, DEFINITION, errors=ERRORS, docs=DOCS)
    app.state.blobs = LocalBlobStore(settings.blob_root)
    app.state.upload_rules = UploadRules(
        blobs=app.state.blobs,
        debounce=runs.Debounce(
            delay=timedelta(milliseconds=settings.check_debounce_ms),
            max_wait=timedelta(milliseconds=max(settings.check_debounce_ms, settings.check_max_wait_ms)),
        ),
        max_messages=settings.max_messages,
        extract_slots=asyncio.Semaphore(settings.extract_concurrency),
    )
    return app
