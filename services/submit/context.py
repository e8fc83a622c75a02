"""What the routes, handlers and workers of one submit process share: its `ProcessContext`.

Settings and clock, the package store (the shared blob store, `shared/blobs.py`), the per-seller
portal rate limit (its own small engine: a bucket UPDATE must commit at once, never wait inside a
request's transaction), the HTTP client of the evidence service, the workers' wake-up and the service's metrics. Built
once in `of`, the definition's factory. Routes ask for `ctx: Ctx`, handlers get it as their third
argument, workers as `runtime.context`.

`aclose` closes what it opened (the rate limit's engine, the evidence client). The runtime does not
close a context (`shared/runtime.py` stops only its own parts), so the service's worker, which lives
exactly as long as the runtime and is cancelled by its `stop`, calls it on its way out (`workers.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import httpx
from fastapi import Depends, Request

from services.submit.letters import LetterFont
from services.submit.metrics import SubmitMetrics
from services.submit.ratelimit import PortalRateLimit
from services.submit.settings import Settings
from shared.blobs import BlobStore, blob_store_from
from shared.clock import Clock
from shared.db.engine import create_engine
from shared.db.tls import database_ssl
from shared.runtime import ProcessContext
from shared.web.context import process_context
from shared.worker import Wakeup


@dataclass
class SubmitContext(ProcessContext):
    settings: Settings
    packages: BlobStore = field(kw_only=True)
    rate_limit: PortalRateLimit = field(kw_only=True)
    evidence: httpx.AsyncClient = field(kw_only=True)
    font: LetterFont = field(kw_only=True)
    wakeup: Wakeup = field(default_factory=Wakeup)
    metrics: SubmitMetrics = field(default_factory=SubmitMetrics, kw_only=True)

    async def aclose(self) -> None:
        """Close the rate limit's engine and the evidence client (at shutdown, by the worker)."""
        try:
            await self.evidence.aclose()
        finally:
            await self.rate_limit.aclose()

    @classmethod
    def of(cls, settings: Settings, clock: Clock) -> SubmitContext:
        """The definition's context factory (`ServiceDefinition.context`)."""
        engine = create_engine(
            settings.database_url, pool_size=2, application_name="submit-ratelimit", ssl=database_ssl(settings)
        )
        return cls(
            settings,
            clock,
            packages=blob_store_from(settings, local_root=settings.package_root),
            rate_limit=PortalRateLimit(engine, rate_per_s=settings.portal_rate_per_s, burst=settings.portal_rate_burst),
            evidence=httpx.AsyncClient(base_url=settings.evidence_url, timeout=settings.evidence_timeout_s),
            font=LetterFont(settings.letter_font_path, settings.letter_font_index),
        )


async def _context(request: Request) -> SubmitContext:
    return process_context(request, SubmitContext)


Ctx = Annotated[SubmitContext, Depends(_context)]  # a route's `ctx: Ctx`
