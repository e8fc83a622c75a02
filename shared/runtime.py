"""What one service process runs beside its HTTP API: engine, outbox relay, consumer, lag.

Built from a `ServiceDefinition` (what the service is), its settings (where things are) and a
clock. The definition's `context` factory builds the process's one `ProcessContext` (settings,
clock and the service's own parts: a secret box, a blob store, a worker's wake-up) once, at
construction; routes get it as a dependency, handlers as their third argument and workers as
`runtime.context`, so no part of a service looks it up anywhere else.
Start-up never blocks on Kafka: the app answers /healthz at once and /readyz says what is
still missing, while the background parts keep retrying until the broker answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, Protocol, TypeVar

import structlog
from aiokafka.errors import KafkaError
from fastapi import APIRouter
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.backoff import Backoff
from shared.clock import Clock, ShiftedClock, SystemClock
from shared.contracts.topics import dlq_topic
from shared.db.engine import create_engine, session_factory
from shared.db.outbox import Outbox
from shared.db.session import session_scope
from shared.db.tls import database_ssl
from shared.kafka.consumer import EventConsumer, topics_of
from shared.kafka.handlers import Handler
from shared.kafka.lag import LagMonitor, LagReader
from shared.kafka.producer import KafkaProducer
from shared.kafka.quiet import quiet_aiokafka_logs
from shared.kafka.relay import OutboxRelay, outbox_state
from shared.kafka.security import KafkaSecurity
from shared.metrics import BackboneMetrics, ServiceMetrics
from shared.settings import ServiceSettings
from shared.tracing import instrument_kafka

log = structlog.get_logger(__name__)


@dataclass
class ProcessContext:
    """What every part of one process shares, built once per process (`ServiceDefinition.context`).

    A service subclasses it with its own parts (`IngestContext` adds the secret box; parts with
    no default are `field(kw_only=True)`); a service with nothing of its own subclasses it empty.
    Its `clock` is the one every route, handler and worker of the process reads the time from
    (tests give a `ManualClock`). Its `metrics` are the service's own (`shared.metrics.ServiceMetrics`:
    a service with some declares `metrics: XMetrics = field(default_factory=XMetrics, kw_only=True)`),
    served by /metrics beside the backbone's.
    """

    settings: ServiceSettings
    clock: Clock = field(default_factory=SystemClock)
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics, kw_only=True)


ContextT = TypeVar("ContextT", bound=ProcessContext)
# Builds a service's context from its settings (the service's own `Settings` class) and the clock.
ContextFactory = Callable[[Any, Clock], ContextT]


def clock_of(settings: ServiceSettings) -> Clock:
    """The system's clock, or in a local run with DD_CLOCK_SHIFT_FILE, the system's moved by that file."""
    if settings.clock_shift_file and settings.is_local:
        return ShiftedClock(Path(settings.clock_shift_file))
    return SystemClock()


def plain_context(settings: ServiceSettings, clock: Clock) -> ProcessContext:
    """The factory of a service that has no parts of its own (and of the kit's tests)."""
    return ProcessContext(settings, clock)


@dataclass(frozen=True)
class ServiceDefinition(Generic[ContextT]):
    """What a service is: its schema (with outbox and inbox), handlers, routes and migrations,
    and how its process context is built."""

    name: str
    metadata: MetaData
    outbox_table: Table
    inbox_table: Table
    migrations: Path
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    routers: Sequence[APIRouter] = ()
    # Loops the service runs beside its relay and consumer (a scheduler, a debouncer): each gets the
    # runtime (its sessions and `context`), runs until cancelled at shutdown, and must survive
    # database outages on its own.
    workers: Sequence[BackgroundWorker[ContextT]] = ()
    context: ContextFactory[ContextT] = plain_context  # type: ignore[assignment]

    @classmethod
    def of(
        cls,
        models: ModuleType,
        *,
        migrations: Path,
        context: ContextFactory[ContextT],
        handlers: Mapping[str, Handler],
        routers: Sequence[APIRouter],
        workers: Sequence[BackgroundWorker[ContextT]] = (),
    ) -> ServiceDefinition[ContextT]:
        """From a service's models module (SCHEMA, metadata, outbox_table, inbox_table): its name is its schema."""
        return cls(
            models.SCHEMA,
            models.metadata,
            models.outbox_table,
            models.inbox_table,
            migrations,
            handlers,
            routers,
            workers,
            context,
        )


BackgroundWorker = Callable[["ServiceRuntime[ContextT]"], Coroutine[Any, Any, None]]


class ServiceRuntime(Generic[ContextT]):
    def __init__(
        self, settings: ServiceSettings, definition: ServiceDefinition[ContextT], *, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.definition = definition
        self.context: ContextT = definition.context(settings, clock or clock_of(settings))
        self.metrics = BackboneMetrics()
        self.context.metrics.register(self.metrics.registry)  # the service's own, on the same /metrics
        self.engine: AsyncEngine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            application_name=definition.name,
            ssl=database_ssl(settings),
        )
        self.sessions: async_sessionmaker[AsyncSession] = session_factory(self.engine)
        self.outbox = Outbox(definition.outbox_table)
        self.producer: KafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.consumer: EventConsumer | None = None
        self.lag_reader: LagReader | None = None
        self.lag: LagMonitor | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._consumer_task: asyncio.Task[None] | None = None
        self._kafka_ready = False  # producer, relay, lag reader and consumer all started

    @property
    def consumer_group(self) -> str:
        return self.settings.consumer_group

    @property
    def consumed_topics(self) -> tuple[str, ...]:
        return topics_of(self.definition.handlers)

    async def start(self) -> None:
        quiet_aiokafka_logs(self.settings.kafka_unavailable_log_interval_s)
        self._tasks.append(asyncio.create_task(self._start_kafka_parts(), name=f"{self.definition.name}-kafka"))
        for worker in self.definition.workers:
            name = f"{self.definition.name}-{getattr(worker, '__name__', 'worker')}"
            self._tasks.append(asyncio.create_task(worker(self), name=name))

    async def _start_kafka_parts(self) -> None:
        s = self.settings
        instrument_kafka()  # publish and consume spans, before the producer and consumer exist
        producer = await _until_started(
            lambda: KafkaProducer.from_settings(s, client_id=self.definition.name, metrics=self.metrics), "producer"
        )
        self.producer = producer
        relay = OutboxRelay(
            outbox_table=self.definition.outbox_table,
            producer=producer,
            settings=s,
            metrics=self.metrics,
        )
        self.relay = relay
        self._tasks.append(asyncio.create_task(relay.run(), name=f"{self.definition.name}-relay"))

        reader = await _until_started(
            lambda: LagReader(
                s.kafka_bootstrap_servers,
                client_id=f"{self.definition.name}-lag",
                reconnect_backoff_ms=s.kafka_reconnect_backoff_ms,
                security=KafkaSecurity.from_settings(s),
            ),
            "lag reader",
        )
        self.lag_reader = reader
        self.lag = LagMonitor(
            reader,
            {self.consumer_group: self.consumed_topics} if self.consumed_topics else {},
            self.metrics,
            dlq_topics=[dlq_topic(t) for t in self.consumed_topics],
            min_interval_s=s.lag_refresh_interval_s,
        )
        if self.definition.handlers:
            consumer = await _until_started(
                lambda: EventConsumer(
                    service=self.definition.name,
                    group_id=self.consumer_group,
                    handlers=self.definition.handlers,
                    context=self.context,
                    sessions=self.sessions,
                    inbox_table=self.definition.inbox_table,
                    producer=producer,
                    bootstrap_servers=s.kafka_bootstrap_servers,
                    settings=s,
                    metrics=self.metrics,
                ),
                "consumer",
            )
            self.consumer = consumer
            self._consumer_task = asyncio.create_task(consumer.run(), name=f"{self.definition.name}-consumer")
            self._tasks.append(self._consumer_task)
        self._kafka_ready = True

    async def stop(self) -> None:
        if self.consumer and self._consumer_task:
            self.consumer.request_stop()
            await asyncio.wait([self._consumer_task], timeout=5)  # let the batch in hand commit
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.lag_reader:
            await self.lag_reader.stop()
        if self.producer:
            await self.producer.stop()
        await self.engine.dispose()

    async def readiness(self) -> dict[str, str]:
        """'ok' or why not, for the database and Kafka."""
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(3):
                async with session_scope(self.sessions) as session:
                    await session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        checks["kafka"] = await self._kafka_check()
        return checks

    async def _kafka_check(self) -> str:
        """One metadata round trip; then whether the relay actually gets events out."""
        if self.producer is None or self.lag_reader is None or not self._kafka_ready:
            return "unavailable: still connecting"
        try:
            async with asyncio.timeout(3):
                await self.lag_reader.ping()
        except Exception as exc:
            return f"unavailable: {type(exc).__name__}"
        relay = self.relay
        if relay is not None and relay.failures and isinstance(relay.last_error, KafkaError | TimeoutError):
            return f"unavailable: relay failing ({relay.failures} tries: {type(relay.last_error).__name__})"
        if relay is not None and relay.idle_for_s() > self.settings.outbox_stall_after_s:
            try:
                async with asyncio.timeout(3):
                    waiting, oldest_s = await self.outbox_state()
            except Exception:
                return "ok"  # the database check says why
            if waiting:
                why = type(relay.last_error).__name__ if relay.last_error else "no progress"
                return (
                    f"unavailable: outbox stalled ({waiting} rows, oldest {oldest_s:.0f} s,"
                    f" nothing published for {relay.idle_for_s():.0f} s: {why})"
                )
        return "ok"

    async def outbox_backlog(self) -> int:
        return (await self.outbox_state())[0]

    async def outbox_state(self) -> tuple[int, float]:
        """Rows waiting in the outbox, and the age of the oldest in seconds."""
        async with session_scope(self.sessions) as session:
            return await outbox_state(session, self.definition.outbox_table)


class _KafkaClient(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


ClientT = TypeVar("ClientT", bound=_KafkaClient)


async def _until_started(build: Callable[[], ClientT], what: str) -> ClientT:
    """Build and start a Kafka client, retrying with a fresh one until the broker answers."""
    failures = 0
    while True:
        client = build()
        try:
            await client.start()
            return client
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            delay = _KAFKA_START_BACKOFF.delay(failures)
            log.warning("kafka_not_ready", part=what, error=repr(exc), retry_in_s=round(delay, 3))
            try:
                await client.stop()
            except Exception:
                pass
            await asyncio.sleep(delay)


_KAFKA_START_BACKOFF = Backoff(base_s=0.5, cap_s=5.0)
