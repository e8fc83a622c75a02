"""The portal simulator's app: no database, no Kafka."""

from __future__ import annotations

import typer
import uvicorn
from fastapi import FastAPI

from services.portal_sim.openapi import DOCS
from services.portal_sim.portal import PortalState, router
from services.portal_sim.settings import Settings
from shared.logging import configure_logging
from shared.web.middleware import RequestContextMiddleware
from shared.web.openapi import install_docs, install_openapi
from shared.web.problems import install_problem_handlers


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="Dispute Desk — Coupang portal simulator", docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.portal = PortalState(settings)
    app.include_router(router())
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "portal_sim"}

    @app.get("/readyz")
    async def readyz() -> dict[str, object]:
        return {"status": "ready", "checks": {}}

    install_openapi(app, docs=DOCS)
    install_docs(app)
    return app


cli = typer.Typer(add_completion=False, help="The Coupang dispute portal simulator.")


@cli.callback()
def _commands() -> None:
    """Keep `serve` a named command, as in every service's command line."""


@cli.command()
def serve() -> None:
    settings = Settings()
    configure_logging("portal_sim", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)
