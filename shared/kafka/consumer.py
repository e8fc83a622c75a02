"""The inbox-guarded consumer: apply each event once, then commit its offset.

Per fetched batch: one transaction claims every event id in the inbox, runs the handlers of
the new ones in partition order, and commits; only then are the Kafka offsets committed. A
crash between the two redelivers the batch, and the inbox turns it into a no-op. If anything
in the batch fails, the batch is rolled back and replayed one message per transaction, with
bounded retries and backoff; a message that still fails goes to `<topic>.dlq` and the consumer
moves on.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.contracts import Envelope, EventParseError, parse_event
from shared.db.inbox import Delivery, Inbox
from shared.db.session import session_scope
from shared.kafka.dlq import send_to_dlq
from shared.kafka.producer import header_dict
from shared.metrics import BackboneMetrics
from shared.settings import ServiceSettings
from shared.tracing import handling_span

log = structlog.get_logger(__name__)

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]


def topics_of(handlers: Mapping[str, Handler]) -> tuple[str, ...]:
    """Topics to subscribe for handlers keyed by dataschema ("dispute.received/v1")."""
    return tuple(sorted({schema.split("/")[0] for schema in handlers}))


class UnhandledEventType(Exception):
    """A message on a subscribed topic whose type/version this service has no handler for."""


@dataclass
class _Parsed:
    message: ConsumerRecord
    event: Envelope | None = None
    error: Exception | None = None
    headers: dict[str, str] = field(default_factory=dict)


class EventConsumer:
    def __init__(
        self,
        *,
        service: str,
        group_id: str,
        handlers: Mapping[str, Handler],
        sessions: async_sessionmaker[AsyncSession],
        inbox: Table,
        producer: AIOKafkaProducer,
        bootstrap_servers: str,
        settings: ServiceSettings,
        metrics: BackboneMetrics | None = None,
        topics: Sequence[str] | None = None,
        batch_transactions: bool = True,
    ) -> None:
        """`handlers` maps an event's `dataschema` (e.g. "dispute.received/v1") to its handler;
        `settings` gives the latency, batch and retry knobs (`kafka_*`, `consumer_*`)."""
        self.service = service
        self.group_id = group_id
        self.handlers = dict(handlers)
        self.topics = tuple(topics or topics_of(handlers))
        self._sessions = sessions
        self._inbox = Inbox(inbox, consumer=group_id)
        self._producer = producer
        self._settings = settings
        self._metrics = metrics
        self._batch_transactions = batch_transactions
        self._busy = asyncio.Lock()  # held while a batch is applied and its offsets committed
        self._stopping = False
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
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

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.subscribe(list(self.topics), listener=_FinishBatchBeforeRevoke(self._busy))

    async def run(self) -> None:
        """Consume until `request_stop()`; the batch in hand always finishes and commits first."""
        try:
            while not self._stopping:
                fetched = await self._consumer.getmany(
                    timeout_ms=200, max_records=self._settings.kafka_max_poll_records
                )
                if fetched and not self._stopping:
                    async with self._busy:
                        try:
                            await self.apply(fetched)
                        except Exception as exc:  # e.g. the DLQ unreachable: read the batch again
                            log.error("batch_not_applied_will_refetch", group=self.group_id, error=repr(exc))
                            for tp, messages in fetched.items():
                                self._consumer.seek(tp, messages[0].offset)
                            await asyncio.sleep(1)
        finally:
            await self._consumer.stop()  # leaves the group so others take the partitions at once

    def request_stop(self) -> None:
        """Ask `run()` to return after the batch in hand; it then leaves the group."""
        self._stopping = True

    async def stop(self) -> None:
        """Close a consumer whose `run()` never started (run closes it itself otherwise)."""
        self._stopping = True
        await self._consumer.stop()

    async def apply(self, fetched: Mapping[TopicPartition, list[ConsumerRecord]]) -> None:
        started = time.perf_counter()
        parsed = [self._parse(m) for messages in fetched.values() for m in messages]
        if not (self._batch_transactions and await self._apply_in_one_transaction(parsed)):
            for item in parsed:
                await self._apply_alone(item)
        if self._metrics:
            elapsed = time.perf_counter() - started
            for topic in {tp.topic for tp in fetched}:
                self._metrics.handler_latency.labels(self.group_id, topic).observe(elapsed)
        await self._commit({tp: messages[-1].offset + 1 for tp, messages in fetched.items()})

    def _parse(self, message: ConsumerRecord) -> _Parsed:
        item = _Parsed(message, headers=header_dict(message.headers))
        try:
            item.event = parse_event(message.value or b"")
            if item.event.dataschema not in self.handlers:
                raise UnhandledEventType(f"{self.service} has no handler for {item.event.dataschema}")
        except (EventParseError, UnhandledEventType) as exc:
            item.error = exc
        return item

    async def _apply_in_one_transaction(self, batch: list[_Parsed]) -> bool:
        """The fast path; False (and nothing applied) if any message needs to be handled alone."""
        if any(item.error for item in batch):
            return False
        try:
            outcomes = []
            async with session_scope(self._sessions) as session:
                fresh = await self._inbox.claim(session, [self._delivery(item) for item in batch])
                for item in batch:
                    if item.event.id in fresh:
                        fresh.discard(item.event.id)  # the same id twice in one batch: apply once
                        await self._handle(session, item)
                        outcomes.append((item, "handled"))
                    else:
                        outcomes.append((item, "duplicate"))
            for item, outcome in outcomes:  # counted once committed, not before
                self._count(item, outcome)
            return True
        except Exception as exc:
            log.warning("batch_failed_retrying_one_by_one", group=self.group_id, size=len(batch), error=repr(exc))
            return False

    async def _apply_alone(self, item: _Parsed) -> None:
        attempts = 0
        error = item.error
        while error is None or (attempts < self._settings.consumer_max_attempts and not _is_permanent(error)):
            attempts += 1
            try:
                async with session_scope(self._sessions) as session:
                    fresh = await self._inbox.claim(session, [self._delivery(item)])
                    if fresh:
                        await self._handle(session, item)
                self._count(item, "handled" if fresh else "duplicate")
                return
            except Exception as exc:
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
                    await asyncio.sleep(_backoff_s(self._settings.consumer_retry_backoff_ms, attempts))
        await self._dead_letter(item, error, max(attempts, 1))

    async def _handle(self, session: AsyncSession, item: _Parsed) -> None:
        with handling_span(item.headers, f"handle {item.event.dataschema}"):  # child of the publisher's span
            structlog.contextvars.bind_contextvars(dispute_id=item.event.subject)
            try:
                await self.handlers[item.event.dataschema](session, item.event)
            finally:
                structlog.contextvars.unbind_contextvars("dispute_id")

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

    def _delivery(self, item: _Parsed) -> Delivery:
        m = item.message
        return Delivery(event_id=item.event.id, topic=m.topic, partition=m.partition, offset=m.offset)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # Partitions moved to another member mid-batch: it gets them again, the inbox dedups.
            log.warning("offset_commit_skipped", group=self.group_id, error=repr(exc))

    def _count(self, item: _Parsed, outcome: str) -> None:
        if self._metrics:
            self._metrics.events_handled.labels(self.group_id, item.message.topic, outcome).inc()


def _is_permanent(error: BaseException) -> bool:
    return isinstance(error, (EventParseError, UnhandledEventType))


def _backoff_s(base_ms: int, attempt: int) -> float:
    # Exponential with full jitter, capped, so retries of many consumers do not align.
    return random.uniform(0, min(base_ms * 2 ** (attempt - 1), 10_000)) / 1000


class _FinishBatchBeforeRevoke(ConsumerRebalanceListener):
    def __init__(self, busy: asyncio.Lock) -> None:
        self._busy = busy

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._busy:  # wait for the batch in hand to commit before the partitions move
            pass

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        pass
