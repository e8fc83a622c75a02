"""What the routes, handlers and workers of one notify process share: its `ProcessContext`.

Nothing of its own yet beyond settings and clock; parts the service grows (a channel client,
a portal client) are added here as fields, built once in `of`, the definition's factory.
Routes ask for `ctx: Ctx`, handlers get it as their third argument, workers as
`runtime.context`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.notify.settings import Settings
from shared.clock import Clock
from shared.runtime import ProcessContext
from shared.web.context import process_context


@dataclass
class NotifyContext(ProcessContext):
    settings: Settings

    @classmethod
    def of(cls, settings: Settings, clock: Clock) -> NotifyContext:
        """The definition's context factory (`ServiceDefinition.context`)."""
        return cls(settings, clock)


def _context(request: Request) -> NotifyContext:
    return process_context(request, NotifyContext)


Ctx = Annotated[NotifyContext, Depends(_context)]  # a route's `ctx: Ctx`
