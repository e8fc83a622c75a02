"""The Case Status Dashboard (SPEC section 11): server-rendered pages at `/dashboard` on the ingest
service, over the services' own HTTP APIs with the signed-in token. See services/ingest/README.md."""

from services.ingest.dashboard.routes import router

__all__ = ["router"]
