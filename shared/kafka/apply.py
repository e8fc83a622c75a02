"""Applying delivered events: claim their ids in the inbox, run the new ones' handlers.

This is the consumer's own step, in the caller's transaction, and it needs no Kafka: the
consumer calls it for each fetched batch, and tests (`tests/harness.py`) call it with an
`Incoming.of(envelope)` to deliver an event exactly as the consumer would. Every handler is
called with the process's context (`shared.runtime.ProcessContext`), passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import Envelope
from shared.db.inbox import Delivery, Inbox
from shared.kafka.handlers import BatchHandler, Handler
from shared.tracing import handling_span

__all__ = ["Incoming", "apply_events", "handle_event", "handle_run"]


@dataclass(frozen=True)
class Incoming:
    """One event as delivered: the envelope, where it came from, and its headers (traceparent)."""

    event: Envelope[Any]
    topic: str
    partition: int = 0
    offset: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, event: Envelope[Any], **where: object) -> Incoming:
        """A delivery of `event` on its own topic, for tests and tools that bypass Kafka."""
        return cls(event, topic=event.type, **where)  # type: ignore[arg-type]

    @property
    def delivery(self) -> Delivery:
        return Delivery(event_id=self.event.id, topic=self.topic, partition=self.partition, offset=self.offset)


async def handle_event(
    session: AsyncSession, handlers: Mapping[str, Handler], incoming: Incoming, *, context: Any
) -> None:
    """Run the handler of one event in the caller's transaction, in the trace its headers carry."""
    with handling_span(incoming.headers, f"handle {incoming.event.dataschema}"):  # child of the publisher's span
        structlog.contextvars.bind_contextvars(dispute_id=incoming.event.subject)
        try:
            await handlers[incoming.event.dataschema](session, incoming.event, context)
        finally:
            structlog.contextvars.unbind_contextvars("dispute_id")


async def apply_events(
    session: AsyncSession,
    inbox: Inbox,
    handlers: Mapping[str, Handler],
    deliveries: Sequence[Incoming],
    *,
    context: Any,
) -> list[str]:
    """Claim `deliveries` in the inbox and handle the new ones, in order, inside `session`'s transaction.

    Returns each delivery's outcome, "handled" or "duplicate" (already applied, or the same id
    earlier in this call). `context` is handed to every handler. The caller commits; a rollback
    undoes the claims with the handlers'
    changes. This is the consumer's own step, so a test can deliver an `Incoming.of(event)`
    exactly as Kafka would, without Kafka.
    """
    fresh = await inbox.claim(session, [d.delivery for d in deliveries])
    outcomes = []
    new: list[Incoming] = []
    for incoming in deliveries:
        if incoming.event.id in fresh:
            fresh.discard(incoming.event.id)  # the same id twice in one batch: apply once
            new.append(incoming)
            outcomes.append("handled")
        else:
            outcomes.append("duplicate")
    batch_handler = getattr(handlers, "batch_handler", None)  # a HandlerMap with batched types
    for dataschema, run in groupby(new, key=lambda i: i.event.dataschema):
        batch = batch_handler(dataschema) if batch_handler is not None else None
        if batch is not None:
            await handle_run(session, batch, list(run), context=context)
        else:
            for incoming in run:
                await handle_event(session, handlers, incoming, context=context)
    return outcomes


async def handle_run(session: AsyncSession, batch: BatchHandler, run: Sequence[Incoming], *, context: Any) -> None:
    """Consecutive new events of one batched type, in one call (in the trace of the first)."""
    with handling_span(run[0].headers, f"handle {run[0].event.dataschema} x{len(run)}"):
        await batch(session, [incoming.event for incoming in run], context)
