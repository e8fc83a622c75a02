"""What the routes and handlers of one ingest process share: its `ProcessContext`.

Built once by `IngestContext.of` (the definition's factory): settings, clock and the secret box
that seals webhook secrets at rest (shared/secretbox.py), and the webhook's metrics. Routes ask
for `ctx: Ctx`, handlers get it as their third argument; use cases that need a part of it take it
(or the part) as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from services.ingest.metrics import IngestMetrics
from services.ingest.settings import Settings
from shared.clock import Clock
from shared.runtime import ProcessContext
from shared.secretbox import SecretBox
from shared.web.context import process_context


@dataclass
class IngestContext(ProcessContext):
    settings: Settings
    secret_box: SecretBox = field(kw_only=True)  # webhook secrets at rest
    metrics: IngestMetrics = field(default_factory=IngestMetrics, kw_only=True)

    @classmethod
    def of(cls, settings: Settings, clock: Clock) -> IngestContext:
        """The definition's context factory (`ServiceDefinition.context`)."""
        return cls(settings, clock, secret_box=SecretBox(settings.secret_key))


async def _context(request: Request) -> IngestContext:
    return process_context(request, IngestContext)


Ctx = Annotated[IngestContext, Depends(_context)]  # a route's `ctx: Ctx`
