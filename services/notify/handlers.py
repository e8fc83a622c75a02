"""Handlers of the events the notify service consumes, keyed by event class (none yet).

Each is `async def on_x(session, event: Envelope[XV1], ctx: NotifyContext) -> None` (the
process's context, handed in by the consumer), runs inside the consumer's
transaction (with the inbox claim) and never commits; one that needs an earlier fact of its
dispute raises `Deferred` and the event is parked until that fact is recorded.
"""

from __future__ import annotations

from services.notify import models
from shared.kafka.handlers import handler_map

HANDLERS = handler_map({}, parked=models.parked_events_table)
