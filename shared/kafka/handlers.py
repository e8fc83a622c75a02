"""Typed event handlers, keyed by event class, and parking of events that arrive too early.

    async def on_dispute_updated(session, event: Envelope[DisputeUpdatedV1], ctx: IngestContext) -> None:
        case = await repo.case(event.data.dispute_id)
        if case is None:
            raise Deferred("case not received yet")   # parked, applied once dispute.received is
        ...

    HANDLERS = handler_map({DisputeReceivedV1: on_received, DisputeUpdatedV1: on_dispute_updated},
                           parked=models.parked_events_table)

`handler_map` gives the consumer what it looks up, a mapping from `dataschema`
("dispute.updated/v1") to `async handler(session, event, context)`, where `context` is the
process's one `ProcessContext` (shared/runtime.py), handed in by the consumer (or the test that
delivers the event): a handler finds its settings, clock and service parts there, nowhere else.
With `parked=` each handler runs in a SAVEPOINT: a `Deferred` rolls back only what that handler
did and parks the event (see `shared.db.parking`), and the handler returns normally, so the inbox
claim commits, the offset moves on and nothing is dead-lettered. After any handler of the map
succeeds for a dispute, the dispute's parked events are replayed in arrival order in the same
transaction; facts recorded outside a handler (an HTTP request's use case) call `release_parked(session, parked_table,
dispute_id, context)`, which finds the map built for that table: a use case names its parked table, never
the service's handlers module (handlers depend on use cases, not the other way round).

A hot event type may also be handled a fetched batch at a time (`batched={DisputeReceivedV1:
on_many}`, `async def on_many(session, events, ctx) -> None`): `apply_events` hands it each run
of consecutive new events of that type at once, without a savepoint per event, and the parked events
of all their disputes are looked up in one round trip. A batch handler may not defer. The same
function still serves single events (the consumer's one-by-one replay, a parked replay), as a
batch of one, so there is one handler per event type, whatever path delivers it.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import ENVELOPES, Envelope, EventData, parse_event
from shared.db import parking
from shared.tracing import handling_span

log = structlog.get_logger(__name__)

# What the consumer calls: the event is a parsed envelope of the handler's dataschema, the third
# argument the process's context (shared.runtime.ProcessContext, or the service's subclass).
Handler = Callable[[AsyncSession, Envelope[Any], Any], Awaitable[None]]
# What a service writes: `async def on_x(session, event: Envelope[XV1], ctx: MyContext) -> None`.
TypedHandler = Callable[[AsyncSession, Any, Any], Awaitable[None]]
# Or, for a hot event type: `async def on_many(session, events: Sequence[Envelope[XV1]], ctx) -> None`.
BatchHandler = Callable[[AsyncSession, Sequence[Envelope[Any]], Any], Awaitable[None]]

_CLEAR = "dd_parking_clear"  # session.info: (transaction, disputes known to have nothing parked)
# The map built last for each parked-events table (a service builds one, at import of its handlers).
_BY_PARKED_TABLE: weakref.WeakKeyDictionary[Table, HandlerMap] = weakref.WeakKeyDictionary()


class Deferred(Exception):  # noqa: N818 - a signal, not an error: the event waits, it did not fail
    """Raised by a handler whose event needs an earlier fact of its dispute that is not there yet."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HandlerMap(Mapping[str, Handler]):
    """Handlers by dataschema, each wrapped to park on `Deferred` and release after success."""

    def __init__(
        self,
        handlers: Mapping[str, TypedHandler],
        parked: Table | None,
        batched: Mapping[str, BatchHandler] | None = None,
    ) -> None:
        self.parked = parked
        if parked is not None:
            _BY_PARKED_TABLE[parked] = self  # what `release_parked(session, parked, ...)` replays with
        self._batched = dict(batched or {})
        self._typed = dict(handlers) | {schema: _one_of(fn) for schema, fn in self._batched.items()}
        self._wrapped = {schema: self._wrap(fn) for schema, fn in self._typed.items()}

    def batch_handler(self, dataschema: str) -> BatchHandler | None:
        """The handler of a run of new events of `dataschema` at once, if that type is batched."""
        fn = self._batched.get(dataschema)
        if fn is None:
            return None

        async def handle_batch(session: AsyncSession, events: Sequence[Envelope[Any]], context: Any) -> None:
            try:
                await fn(session, events, context)
            except Deferred as exc:
                raise RuntimeError(f"{dataschema} is batched and may not defer ({exc.reason})") from exc
            await self.release_parked_many(session, [event.subject for event in events], context)

        return handle_batch

    async def release_parked_many(self, session: AsyncSession, dispute_ids: Sequence[str], context: Any) -> int:
        """`release_parked` for many disputes: one round trip finds the few that have parked events."""
        if self.parked is None:
            return 0
        clear = _clear_set(session)
        todo = [d for d in dict.fromkeys(dispute_ids) if d not in clear]
        waiting = await parking.disputes_with_parked(session, self.parked, todo)
        clear.update(d for d in todo if d not in waiting)  # their shared locks are held now
        applied = 0
        for dispute_id in todo:
            if dispute_id in waiting:
                applied += await self.release_parked(session, dispute_id, context)
        return applied

    def __getitem__(self, dataschema: str) -> Handler:
        return self._wrapped[dataschema]

    def __iter__(self) -> Iterator[str]:
        return iter(self._wrapped)

    def __len__(self) -> int:
        return len(self._wrapped)

    def _wrap(self, fn: TypedHandler) -> Handler:
        @functools.wraps(fn)
        async def handle(session: AsyncSession, event: Envelope[Any], context: Any) -> None:
            await self._handle(session, fn, event, context)

        return handle

    async def _handle(self, session: AsyncSession, fn: TypedHandler, event: Envelope[Any], context: Any) -> None:
        if self.parked is None:
            try:
                await fn(session, event, context)
            except Deferred as exc:
                raise RuntimeError(f"{event.dataschema} deferred ({exc.reason}) without parked=") from exc
            return
        dispute_id = event.subject
        deferred = await _attempt(session, fn, event, context)
        if deferred is not None:
            await parking.lock_dispute(session, self.parked, dispute_id, exclusive=True)
            deferred = await _attempt(session, fn, event, context)  # a fact committed meanwhile is visible now
        if deferred is not None:
            await parking.park(session, self.parked, event, deferred.reason)
            _clear_set(session).discard(dispute_id)
            log.info("event_parked", dataschema=event.dataschema, event_id=str(event.id), reason=deferred.reason)
            return
        await self.release_parked(session, dispute_id, context)

    async def release_parked(self, session: AsyncSession, dispute_id: str, context: Any) -> int:
        """Replay the dispute's parked events in arrival order, in the caller's transaction.

        Call it after recording a fact outside a handler (handlers of this map do it themselves).
        Each replay runs in a savepoint: applied ones are deleted, deferred ones stay. A replay
        that fails otherwise stays parked with its error as reason (never lost, visible in the
        metric) and does not fail the caller. The replayed handlers get `context` (the process's).
        Returns how many were applied.
        """
        clear = _clear_set(session)
        if self.parked is None or dispute_id in clear:
            return 0
        clear.add(dispute_id)  # also stops a replayed handler from re-entering this release
        parked = self.parked
        waiting = await parking.parked_of_locked(session, parked, dispute_id)
        applied = 0
        progress = True
        while waiting and progress:  # each pass applies one or more, else stops: at most len(waiting) passes
            progress = False
            for row in list(waiting):
                outcome = await self._replay(session, parked, row, context)
                if outcome != "deferred":
                    waiting.remove(row)
                if outcome == "applied":
                    applied += 1
                    progress = True
        if waiting:
            clear.discard(dispute_id)  # a later fact of this transaction may free them
        return applied

    async def _replay(self, session: AsyncSession, parked: Table, row: parking.ParkedEvent, context: Any) -> str:
        fn = self._typed.get(row.dataschema)
        try:
            if fn is None:
                raise LookupError(f"no handler for {row.dataschema} any more")
            event = parse_event(row.payload)
            # The replay continues the trace of the event that was parked.
            with handling_span({"traceparent": row.traceparent or ""}, f"replay {row.dataschema}"):
                deferred = await _attempt(session, fn, event, context)
        except Exception as exc:
            log.error("parked_event_failed", parked_id=row.id, dataschema=row.dataschema, error=repr(exc))
            await parking.mark_failed(session, parked, row.id, f"failed: {exc!r}")
            return "failed"
        if deferred is not None:
            return "deferred"
        await parking.delete_parked(session, parked, row.id)
        log.info("parked_event_applied", parked_id=row.id, dataschema=row.dataschema, event_id=str(event.id))
        return "applied"


def handler_map(
    handlers: Mapping[type[EventData], TypedHandler],
    *,
    parked: Table | None = None,
    batched: Mapping[type[EventData], BatchHandler] | None = None,
) -> HandlerMap:
    """Handlers keyed by event class, as the consumer wants them: by dataschema ("dispute.received/v1").

    `parked` is the service's parked-events table (`models.parked_events_table`); without it a `Deferred`
    is an ordinary failure (retried, then dead-lettered). `batched` handlers take a run of events at
    once (see the module docstring); an event class is in one of the two mappings, not both.
    """
    batched = batched or {}
    both = set(handlers) & set(batched)
    if both:
        raise TypeError(f"handled both one by one and batched: {sorted(c.__name__ for c in both)}")
    return HandlerMap(_by_schema(handlers), parked, _by_schema(batched))


def _by_schema(handlers: Mapping[type[EventData], Any]) -> dict[str, Any]:
    by_schema: dict[str, Any] = {}
    for cls, fn in handlers.items():
        if not (isinstance(cls, type) and cls in ENVELOPES):
            raise TypeError(f"handler_map keys are event classes such as DisputeReceivedV1, not {cls!r}")
        if not callable(fn):
            raise TypeError(f"the handler of {cls.__name__} is not callable: {fn!r}")
        by_schema[cls.dataschema()] = fn
    return by_schema


def _one_of(fn: BatchHandler) -> TypedHandler:
    """A batch handler serving one event (one-by-one replays, parked replays) as a batch of one."""

    @functools.wraps(fn)
    async def handle_one(session: AsyncSession, event: Envelope[Any], context: Any) -> None:
        await fn(session, [event], context)

    return handle_one


async def release_parked(session: AsyncSession, parked: Table, dispute_id: str, context: Any) -> int:
    """Replay the dispute's events parked in `parked` (`HandlerMap.release_parked`), with the handler
    map built for that table: for a use case that recorded a fact outside a handler, which passes
    the process's context on to the replayed handlers. Returns how many were applied."""
    handlers = _BY_PARKED_TABLE.get(parked)
    if handlers is None:
        raise LookupError(f"no handler_map(parked={parked.fullname}) is built: import the service's handlers")
    return await handlers.release_parked(session, dispute_id, context)


async def _attempt(session: AsyncSession, fn: TypedHandler, event: Envelope[Any], context: Any) -> Deferred | None:
    """Run `fn` in a savepoint; a `Deferred` undoes only what it did and is returned."""
    try:
        async with session.begin_nested():
            await fn(session, event, context)
    except Deferred as deferred:
        return deferred
    return None


def _clear_set(session: AsyncSession) -> set[str]:
    """Disputes this transaction holds the shared parking lock of and knows to have nothing parked.

    While the lock is held no other transaction can park for them, so asking again is useless.
    """
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_CLEAR)
    if cached is None or cached[0] is not transaction:
        cached = (transaction, set())
        session.info[_CLEAR] = cached
    return cached[1]
