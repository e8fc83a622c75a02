"""The one app factory: every service is this plus its own routers and handlers."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI

from shared.clock import Clock
from shared.logging import configure_logging
from shared.runtime import ServiceDefinition, ServiceRuntime
from shared.settings import ServiceSettings
from shared.tracing import configure_tracing, instrument_app
from shared.web import ops
from shared.web.asyncapi import DOCS_NOTE, install_asyncapi
from shared.web.middleware import RequestContextMiddleware
from shared.web.openapi import RouteDocs, install_docs, install_openapi
from shared.web.problems import ProblemTable, install_problem_handlers

log = structlog.get_logger(__name__)

GC_THRESHOLD_0 = 10_000  # allocations between young-generation collections (CPython's default: 700)


def create_service_app(
    settings: ServiceSettings,
    definition: ServiceDefinition[Any],
    *,
    errors: ProblemTable | None = None,
    docs: RouteDocs | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """The service's app; `errors` is its table of domain errors to problems (shared.web.problems),
    `docs` what its OpenAPI document says beyond the route signatures (shared.web.openapi).

    The runtime builds the process's context with `clock` (the system's unless a test gives a
    `ManualClock`); routes reach it through `shared.web.context.process_context`.
    """
    runtime = ServiceRuntime(settings, definition, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(definition.name, settings.log_level)
        settings.ensure_safe_to_start()  # before anything connects or listens
        await runtime.start()
        # What start-up allocated (modules, settings, the app) lives as long as the process:
        # keep it out of the collector's generations, which cuts its pauses from tens of ms.
        gc.collect()
        gc.freeze()
        # A request allocates thousands of short-lived objects (SQLAlchemy, pydantic, asyncpg
        # records): with the default threshold of 700 the young generation was collected
        # several times per request, ~6 % of the ingest worker's CPU (bench/RESULTS.md).
        # Cycles still get collected, only in larger batches.
        gc.set_threshold(GC_THRESHOLD_0, *gc.get_threshold()[1:])
        log.info("service_started", port=settings.port)
        try:
            yield
        finally:
            await runtime.stop()
            log.info("service_stopped")

    # FastAPI's own telemetry off: spans come from `instrument_app` when something collects them
    # and from `RequestContextMiddleware` otherwise; FastAPI's would be SDK spans (and spans per
    # dependency and endpoint) on every request that nothing reads.
    # docs_url/redoc_url off: FastAPI's pages load Swagger UI from a CDN; install_docs serves our copy.
    app = FastAPI(
        title=f"Dispute Desk — {definition.name}",
        description=DOCS_NOTE,  # the link from /docs to the event contract
        lifespan=lifespan,
        telemetry={"tracing": False},
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.auth_secret = settings.auth_secret
    configure_tracing(definition.name, settings)
    instrument_app(app)  # before the first request: it wraps the middleware stack
    install_problem_handlers(app, errors)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(ops.router)
    for router in definition.routers:
        app.include_router(router)
    install_openapi(app, errors, docs)
    install_docs(app)
    install_asyncapi(app)
    return app
