"""The inbox-guarded consumer: apply each event once, then commit its offset.

Per fetched batch: one transaction claims every event id in the inbox, runs the handlers of
the new ones in partition order, and commits (`apply_events`, also the seam tests call without
Kafka). Only then are the batch's offsets handed to a background committer, which commits the
latest of them per partition off the fetch loop's path. A crash between the two redelivers the
batch, and the inbox turns it into a no-op.

If an event fails, the batch is rolled back and replayed one message per transaction, with
bounded retries and backoff; a message that still fails goes to `<topic>.dlq` and the consumer
moves on. A database outage is not the event's fault: a connection-level error spends no
attempt. The consumer pauses its partitions, rewinds to the first event not yet applied, waits
(capped backoff) until PostgreSQL answers, and resumes.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.backoff import Backoff
from shared.contracts import Envelope, EventParseError, parse_event
from shared.db.errors import is_connection_error
from shared.db.inbox import Inbox
from shared.db.session import session_scope
from shared.kafka.apply import Incoming, apply_events
from shared.kafka.dlq import send_to_dlq
from shared.kafka.handlers import Handler
from shared.kafka.metadata import client_of
from shared.kafka.producer import header_dict
from shared.kafka.quiet import throttle_metadata_retries
from shared.kafka.security import KafkaSecurity
from shared.metrics import BackboneMetrics
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

# Called with a batch's offsets after its database commit and before they go to Kafka.
AfterDatabaseCommit = Callable[[Mapping[TopicPartition, int]], Awaitable[None]]

_PROBE_TIMEOUT_S = 5.0
_PROBE_BACKOFF = Backoff(base_s=0.2, cap_s=2.0)  # waiting for PostgreSQL to answer again
_RETRY_BACKOFF_CAP_S = 10.0  # between an event's attempts
_FINAL_COMMIT_TIMEOUT_S = 10.0


def topics_of(handlers: Mapping[str, Handler]) -> tuple[str, ...]:
    """Topics to subscribe for handlers keyed by dataschema ("dispute.received/v1")."""
    return tuple(sorted({schema.split("/")[0] for schema in handlers}))


class UnhandledEventType(Exception):
    """A message on a subscribed topic whose type/version this service has no handler for."""


@dataclass
class _Parsed:
    message: ConsumerRecord
    event: Envelope[Any] | None = None
    error: Exception | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def incoming(self) -> Incoming:
        m = self.message
        if self.event is None:  # callers ask only for parsed messages (a parse error is permanent)
            raise ValueError(f"message at {m.topic}/{m.partition}/{m.offset} was not parsed: {self.error!r}")
        return Incoming(self.event, topic=m.topic, partition=m.partition, offset=m.offset, headers=self.headers)

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.message.topic, self.message.partition)


class _BatchInterrupted(Exception):
    """Part of a batch could not be applied; `done` holds the next offset per partition that was."""

    def __init__(self, done: dict[TopicPartition, int], cause: Exception) -> None:
        super().__init__(repr(cause))
        self.done = done
        self.cause = cause


class EventConsumer:
    def __init__(
        self,
        *,
        service: str,
        group_id: str,
        handlers: Mapping[str, Handler],
        sessions: async_sessionmaker[AsyncSession],
        inbox_table: Table,
        producer: AIOKafkaProducer,
        bootstrap_servers: str,
        settings: ServiceSettings,
        metrics: BackboneMetrics | None = None,
        topics: Sequence[str] | None = None,
        batch_transactions: bool = True,
        after_database_commit: AfterDatabaseCommit | None = None,
        context: Any,
    ) -> None:
        """`handlers` maps an event's `dataschema` (e.g. "dispute.received/v1") to its handler,
        each called as `handler(session, event, context)` with the process's `context` (the
        runtime passes its `ProcessContext`; the kit's own tests and benches pass None);
        `settings` gives the latency, batch and retry knobs (`kafka_*`, `consumer_*`).

        `after_database_commit` (for crash tests) is awaited with each batch's offsets once its
        transaction committed, before the offsets are handed to Kafka; if it raises, those
        offsets are never committed and `run()` ends with that exception, as a crash would.
        """
        self.service = service
        self.group_id = group_id
        self.handlers = handlers  # the map itself: a HandlerMap also offers batch handlers
        self.context = context  # the runtime's ProcessContext, handed to every handler
        self.topics = tuple(topics or topics_of(handlers))
        self._sessions = sessions
        self.inbox = Inbox(inbox_table, consumer=group_id)
        self._producer = producer
        self._settings = settings
        self._metrics = metrics
        self._batch_transactions = batch_transactions
        # Exponential with full jitter, capped, so retries of many consumers do not align.
        retry_base_s = max(settings.consumer_retry_backoff_ms, 1) / 1000
        self._retry_backoff = Backoff(base_s=retry_base_s, cap_s=max(_RETRY_BACKOFF_CAP_S, retry_base_s))
        self._after_database_commit = after_database_commit
        self._busy = asyncio.Lock()  # held while a batch is applied and its offsets recorded
        self._stopping = False
        # Offsets whose batches committed in the database, latest per partition, not yet in Kafka.
        self._pending: dict[TopicPartition, int] = {}
        self._recorded = asyncio.Event()
        self._commit_lock = asyncio.Lock()  # one offset commit at a time, so a later one never loses
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            **KafkaSecurity.from_settings(settings).client_kwargs(),
            group_id=group_id,
            client_id=f"{service}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            max_poll_records=settings.kafka_max_poll_records,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            max_poll_interval_ms=settings.kafka_max_poll_interval_ms,
            rebalance_timeout_ms=settings.kafka_rebalance_timeout_ms,
        )
        # Without it the client asks for metadata in a tight loop while the broker is away.
        throttle_metadata_retries(client_of(self._consumer), settings.kafka_reconnect_backoff_ms / 1000)

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.subscribe(list(self.topics), listener=_CommitBeforeRevoke(self))

    async def run(self) -> None:
        """Consume until `request_stop()`; the batch in hand always finishes and commits first."""
        committer = asyncio.create_task(self._commit_in_background(), name=f"{self.group_id}-offset-committer")
        try:
            while not self._stopping:
                fetched = await self._consumer.getmany(
                    timeout_ms=200, max_records=self._settings.kafka_max_poll_records
                )
                if not fetched or self._stopping:
                    continue
                async with self._busy:
                    try:
                        offsets = await self.apply(fetched)
                    except _BatchInterrupted as interrupted:
                        self._rewind(fetched, interrupted.done)
                        self._record(interrupted.done)  # what did commit need not come again
                        failure: Exception | None = interrupted.cause
                    else:
                        failure = None
                        if self._after_database_commit:
                            await self._after_database_commit(offsets)
                        self._record(offsets)
                if failure is None:
                    continue
                if is_connection_error(failure):
                    await self._wait_for_database(failure)
                else:  # e.g. the DLQ unreachable: read the batch again in a moment
                    log.error("batch_not_applied_will_refetch", group=self.group_id, error=repr(failure))
                    await self._idle(1.0)
        finally:
            committer.cancel()
            await asyncio.gather(committer, return_exceptions=True)
            await self._flush(final=True)
            await self._consumer.stop()  # leaves the group so others take the partitions at once

    def request_stop(self) -> None:
        """Ask `run()` to return after the batch in hand; it then leaves the group."""
        self._stopping = True

    async def stop(self) -> None:
        """Close a consumer whose `run()` never started (run closes it itself otherwise)."""
        self._stopping = True
        await self._consumer.stop()

    async def apply(self, fetched: Mapping[TopicPartition, list[ConsumerRecord]]) -> dict[TopicPartition, int]:
        """Apply a fetched batch in the database; returns the offsets to commit once it has.

        Raises `_BatchInterrupted` (with what was applied) when the database went away or an
        event could neither be applied nor dead-lettered.
        """
        started = time.perf_counter()
        parsed = [self._parse(m) for messages in fetched.values() for m in messages]
        done: dict[TopicPartition, int] = {}
        try:
            left = await self._apply_in_transactions(parsed) if self._batch_transactions else parsed
            for item in left:
                await self._apply_alone(item)
                done[item.tp] = item.message.offset + 1
        except Exception as exc:
            # With shards, a partition's earlier events applied either in a committed shard or
            # alone before `done`; what committed past it comes again and the inbox drops it.
            raise _BatchInterrupted(done, exc) from exc
        if self._metrics:
            elapsed = time.perf_counter() - started
            for topic in {tp.topic for tp in fetched}:
                self._metrics.handler_latency.labels(self.group_id, topic).observe(elapsed)
        return {tp: messages[-1].offset + 1 for tp, messages in fetched.items()}

    def _parse(self, message: ConsumerRecord) -> _Parsed:
        item = _Parsed(message, headers=header_dict(message.headers))
        try:
            item.event = parse_event(message.value or b"")
            if item.event.dataschema not in self.handlers:
                raise UnhandledEventType(f"{self.service} has no handler for {item.event.dataschema}")
        except (EventParseError, UnhandledEventType) as exc:
            item.error = exc
        return item

    async def _apply_in_transactions(self, batch: list[_Parsed]) -> list[_Parsed]:
        """The fast path: the batch in one transaction, or in `consumer_concurrency` concurrent
        ones split by Kafka key; returns what is left to apply one by one, in order.

        A key (a dispute) stays in one shard, in order, so its events are applied as written;
        shards touch different disputes, so their transactions overlap one's database round trips
        with another's Python work. Offsets are recorded only after every shard committed. A
        shard that fails leaves only its own events to the one-by-one path.
        """
        shards = min(self._settings.consumer_concurrency, len(batch))
        if shards <= 1:
            return [] if await self._apply_in_one_transaction(batch) else batch
        split: list[list[_Parsed]] = [[] for _ in range(shards)]
        for item in batch:
            split[zlib.crc32(item.message.key or b"") % shards].append(item)
        split = [shard for shard in split if shard]
        applied = await asyncio.gather(
            *(self._apply_in_one_transaction(shard) for shard in split), return_exceptions=True
        )
        for outcome in applied:
            if isinstance(outcome, BaseException):
                raise outcome  # a connection-level error: the whole batch is read again
        failed = {id(item) for shard, ok in zip(split, applied, strict=True) if not ok for item in shard}
        return [item for item in batch if id(item) in failed]

    async def _apply_in_one_transaction(self, batch: list[_Parsed]) -> bool:
        """The fast path; False (and nothing applied) if any message needs to be handled alone.

        A connection-level error propagates: replaying one by one could not do better.
        """
        if any(item.error for item in batch):
            return False
        try:
            async with session_scope(self._sessions) as session:
                outcomes = await apply_events(
                    session, self.inbox, self.handlers, [item.incoming for item in batch], context=self.context
                )
        except Exception as exc:
            if is_connection_error(exc):
                raise
            log.warning("batch_failed_retrying_one_by_one", group=self.group_id, size=len(batch), error=repr(exc))
            return False
        for item, outcome in zip(batch, outcomes, strict=True):  # counted once committed, not before
            self._count(item, outcome)
        return True

    async def _apply_alone(self, item: _Parsed) -> None:
        attempts = 0
        error = item.error
        while error is None or (attempts < self._settings.consumer_max_attempts and not _is_permanent(error)):
            try:
                async with session_scope(self._sessions) as session:
                    (outcome,) = await apply_events(
                        session, self.inbox, self.handlers, [item.incoming], context=self.context
                    )
                self._count(item, outcome)
                return
            except Exception as exc:
                if is_connection_error(exc):
                    raise  # the database is away, not the event's fault: no attempt spent
                attempts += 1
                error = exc
                log.warning(
                    "event_handler_failed",
                    group=self.group_id,
                    topic=item.message.topic,
                    dispute_id=item.event.subject if item.event else None,
                    attempt=attempts,
                    error=repr(exc),
                )
                if attempts < self._settings.consumer_max_attempts:
                    await asyncio.sleep(self._retry_backoff.delay(attempts))
        await self._dead_letter(item, error, max(attempts, 1))

    async def _dead_letter(self, item: _Parsed, error: BaseException, attempts: int) -> None:
        log.error(
            "event_dead_lettered",
            group=self.group_id,
            topic=item.message.topic,
            partition=item.message.partition,
            offset=item.message.offset,
            attempts=attempts,
            error=repr(error),
        )
        await send_to_dlq(
            self._producer,
            item.message,
            error=error,
            service=self.service,
            consumer_group=self.group_id,
            attempts=attempts,
        )
        self._count(item, "dead_lettered")
        if self._metrics:
            self._metrics.dlq_sent.labels(item.message.topic).inc()

    # ------------------------------------------------------------ a database outage

    def _rewind(
        self, fetched: Mapping[TopicPartition, list[ConsumerRecord]], done: Mapping[TopicPartition, int]
    ) -> None:
        """Seek each partition of the batch back to its first event not yet applied."""
        for tp, messages in fetched.items():
            try:
                self._consumer.seek(tp, done.get(tp, messages[0].offset))
            except IllegalStateError:  # no longer ours: its next owner starts from the committed offset
                pass

    async def _wait_for_database(self, cause: Exception) -> None:
        """Paused, until PostgreSQL answers `SELECT 1` (or stop is requested); then resume."""
        log.warning("database_unavailable_pausing", group=self.group_id, error=repr(cause))
        started = time.monotonic()
        self._consumer.pause(*self._consumer.assignment())
        attempt = 0
        try:
            while not self._stopping and not await self._database_answers():
                attempt += 1
                await self._idle(_PROBE_BACKOFF.delay(attempt))
        finally:
            self._consumer.resume(*self._consumer.paused())
        log.info("database_back_resuming", group=self.group_id, waited_s=round(time.monotonic() - started, 1))

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT_S), self._sessions() as session:
                await session.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def _idle(self, seconds: float) -> None:
        """Wait while still polling, so the group does not evict us for exceeding max_poll_interval.

        Paused partitions return nothing; partitions newly assigned meanwhile are not paused
        yet, so anything they return is put back and they are paused too.
        """
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self._stopping:
            fetched = await self._consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            if fetched:
                self._rewind(fetched, {})
                self._consumer.pause(*self._consumer.assignment())
            await asyncio.sleep(min(max(deadline - time.monotonic(), 0), 0.5))

    # ------------------------------------------------------------ offsets

    def _record(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Offsets of events committed in the database: the background committer sends the latest."""
        if offsets:
            self._pending.update(offsets)
            self._recorded.set()

    async def _commit_in_background(self) -> None:
        while True:
            await self._recorded.wait()
            self._recorded.clear()
            try:
                await self._flush()
            except KafkaError as exc:  # coordinator moving, broker away: keep the offsets, try again
                log.warning("offset_commit_failed_will_retry", group=self.group_id, error=repr(exc))
                await asyncio.sleep(0.5)
                self._recorded.set()
                continue
            # Offsets recorded meanwhile go out together in the next commit: at a few records per
            # fetch, a commit per batch was a Kafka round trip per event. A crash in between only
            # redelivers what the inbox already holds; a rebalance or stop commits at once.
            await asyncio.sleep(self._settings.kafka_commit_interval_ms / 1000)

    async def _flush(self, partitions: Sequence[TopicPartition] | None = None, *, final: bool = False) -> None:
        """Commit the pending offsets (of `partitions`, or all) now.

        Offsets of partitions no longer ours are dropped: their next owner redelivers from the
        last committed offset, and the inbox turns that into no-ops. With `final`, a failure is
        logged and the offsets dropped for the same reason.
        """
        async with self._commit_lock:
            chosen = list(self._pending if partitions is None else partitions)
            wanted = {tp: self._pending[tp] for tp in chosen if tp in self._pending}
            assigned = self._consumer.assignment()
            offsets = {tp: offset for tp, offset in wanted.items() if tp in assigned}
            for tp in wanted:
                del self._pending[tp]
            if not offsets:
                return
            try:
                # aiokafka retries a commit while the coordinator is away; a last one must not hang stop().
                async with asyncio.timeout(_FINAL_COMMIT_TIMEOUT_S if final else None):
                    await self._consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError) as exc:
                # Partitions moved to another member: it gets them again, the inbox dedups.
                log.warning("offset_commit_skipped", group=self.group_id, error=repr(exc))
            except (KafkaError, TimeoutError) as exc:
                if final:
                    log.warning("offset_commit_dropped", group=self.group_id, error=repr(exc))
                    return
                for tp, offset in offsets.items():
                    self._pending.setdefault(tp, offset)  # a newer offset recorded meanwhile wins
                raise

    def _count(self, item: _Parsed, outcome: str) -> None:
        if self._metrics:
            self._metrics.events_handled.labels(self.group_id, item.message.topic, outcome).inc()


def _is_permanent(error: BaseException) -> bool:
    return isinstance(error, (EventParseError, UnhandledEventType))


class _CommitBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no type hints
    def __init__(self, consumer: EventConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Let the batch in hand finish, then send its offsets before the partitions move.
        async with self._consumer._busy:
            try:
                await self._consumer._flush(revoked, final=True)
            except Exception as exc:  # never fail the rebalance: the inbox dedups a redelivery
                log.warning("offset_commit_on_revoke_failed", error=repr(exc))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        pass
