"""Handlers of the events the ingest service consumes, keyed by `dataschema`.

Each is `async def handle(session, event)`, runs inside the consumer's transaction (with the
inbox claim) and never commits.
"""

from __future__ import annotations

from shared.kafka.consumer import Handler

HANDLERS: dict[str, Handler] = {}
