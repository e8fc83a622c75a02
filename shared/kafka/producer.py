"""The one way to build a Kafka producer: idempotent, acks=all, and replaced when it wedges.

aiokafka 0.14's idempotent producer numbers each batch per partition when it leaves the
queue. A batch that then fails (e.g. expired after `request_timeout_ms` without a partition
leader, as during a broker's controlled shutdown) leaves a gap in those numbers, and every
later batch of that partition fails with `OutOfOrderSequenceNumber`, forever (aio-libs/aiokafka
issue 1017). The only way out is a new producer id, i.e. a new producer. `KafkaProducer`
holds the current `AIOKafkaProducer` and swaps it after any failed delivery, so the objects
that hold it (relay, consumer's DLQ path) keep working across the swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaConnectionError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    UnknownProducerId,
)
from aiokafka.structs import RecordMetadata

from shared.kafka.quiet import throttle_metadata_retries
from shared.kafka.security import PLAINTEXT, KafkaSecurity
from shared.metrics import BackboneMetrics
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)

# Errors that poison the producer id itself; any failed delivery future is treated the same
# way (its batch already took sequence numbers), these may also surface from `send()`.
FATAL_PRODUCER_ERRORS = (OutOfOrderSequenceNumber, UnknownProducerId, ProducerFenced, InvalidProducerEpoch)
STOP_TIMEOUT_S = 3.0


def create_producer(
    bootstrap_servers: str,
    *,
    client_id: str,
    linger_ms: int = 0,
    request_timeout_ms: int = 15_000,
    reconnect_backoff_ms: int = 500,
    security: KafkaSecurity = PLAINTEXT,
) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        **security.client_kwargs(),
        client_id=client_id,
        enable_idempotence=True,  # retries never duplicate or reorder within a partition
        acks="all",
        # The relay appends a whole batch before the sender task runs, so lingering only adds latency.
        linger_ms=linger_ms,
        max_batch_size=256 * 1024,
        request_timeout_ms=request_timeout_ms,
    )
    throttle_metadata_retries(producer.client, reconnect_backoff_ms / 1000)
    return producer


class ProducerUnavailable(KafkaConnectionError):  # type: ignore[misc]  # aiokafka ships no type hints
    """No started producer: the broker did not answer the last attempt to start one."""


class KafkaProducer:
    """An idempotent producer that replaces its `AIOKafkaProducer` after a failed delivery.

    `send()` and `send_and_wait()` behave like aiokafka's. A failed delivery drops the current
    producer (its id has a gap); the next send starts a new one, so nothing runs against a
    broker that is away between the sends of a caller that backs off.
    """

    def __init__(
        self,
        build: Callable[[], AIOKafkaProducer],
        *,
        metrics: BackboneMetrics | None = None,
        stop_timeout_s: float = STOP_TIMEOUT_S,
    ) -> None:
        self._build = build
        self._metrics = metrics
        self._stop_timeout_s = stop_timeout_s
        self._current: AIOKafkaProducer | None = None
        self._generation = 0
        self._lock = asyncio.Lock()
        self._stopped = False
        self._replacing: set[asyncio.Task[None]] = set()
        self._doomed = 0  # generation whose replacement is already scheduled
        self.last_error: BaseException | None = None  # cleared by a delivery of the current producer

    @classmethod
    def from_settings(
        cls, settings: ServiceSettings, *, client_id: str, metrics: BackboneMetrics | None = None
    ) -> KafkaProducer:
        return cls(
            lambda: create_producer(
                settings.kafka_bootstrap_servers,
                client_id=client_id,
                linger_ms=settings.kafka_linger_ms,
                request_timeout_ms=settings.kafka_request_timeout_ms,
                reconnect_backoff_ms=settings.kafka_reconnect_backoff_ms,
                security=KafkaSecurity.from_settings(settings),
            ),
            metrics=metrics,
        )

    async def start(self) -> None:
        """Start a producer now; raises if the broker does not answer (then call again)."""
        await self._ensure_started()

    async def stop(self) -> None:
        self._stopped = True
        await asyncio.gather(*self._replacing, return_exceptions=True)
        async with self._lock:
            if self._current is not None:
                current, self._current = self._current, None
                await _close(current, self._stop_timeout_s)

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, **kw: Any
    ) -> asyncio.Future[RecordMetadata]:
        """Queue one record, like `AIOKafkaProducer.send`; returns its delivery future.

        If that future fails, the producer is replaced in the background (see module doc).
        """
        for _ in range(2):  # once more if the producer was swapped between start and send
            producer, generation = await self._ensure_started()
            try:
                delivery: asyncio.Future[RecordMetadata] = await producer.send(topic, value, key, **kw)
            except ProducerClosed:
                if generation == self._generation:
                    raise
                continue
            except FATAL_PRODUCER_ERRORS as exc:
                await self._replace(generation, exc)
                raise
            delivery.add_done_callback(functools.partial(self._on_delivery, generation))
            return delivery
        raise ProducerClosed()

    async def send_and_wait(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, **kw: Any
    ) -> RecordMetadata:
        return await (await self.send(topic, value, key, **kw))

    def _on_delivery(self, generation: int, delivery: asyncio.Future[RecordMetadata]) -> None:
        error = delivery.exception() if not delivery.cancelled() else None
        if error is None:
            if generation == self._generation:
                self.last_error = None
            return
        self.last_error = error
        if generation == self._generation and self._current is not None and generation != self._doomed:
            self._doomed = generation  # one replacement per producer, not one per failed record
            task = asyncio.get_running_loop().create_task(self._replace(generation, error))
            self._replacing.add(task)
            task.add_done_callback(self._replacing.discard)

    async def reset(self, error: BaseException) -> None:
        """Drop the current producer now (e.g. its deliveries hang); the next send starts another."""
        await self._replace(self._generation, error)

    async def _replace(self, generation: int, error: BaseException) -> None:
        """A delivery of `generation` failed: its producer id has a gap now, so drop that producer."""
        self.last_error = error
        async with self._lock:
            if generation != self._generation or self._current is None:
                return  # already replaced
            old, self._current = self._current, None
        log.warning("kafka_producer_replaced", error=repr(error), generation=generation)
        if self._metrics:
            self._metrics.producer_replacements.inc()
        await _close(old, self._stop_timeout_s)

    async def _ensure_started(self) -> tuple[AIOKafkaProducer, int]:
        if self._current is not None:
            return self._current, self._generation
        async with self._lock:
            if self._stopped:
                raise ProducerClosed()
            if self._current is None:
                producer = self._build()
                try:
                    await producer.start()
                except BaseException as exc:
                    with contextlib.suppress(BaseException):
                        await _close(producer, self._stop_timeout_s)
                    if not isinstance(exc, Exception):
                        raise  # cancelled
                    self.last_error = exc
                    raise ProducerUnavailable(f"producer not started: {exc!r}") from exc
                self._current = producer
                self._generation += 1
            return self._current, self._generation


async def _close(producer: AIOKafkaProducer, timeout_s: float) -> None:
    """Stop a producer without hanging on a broker that is away.

    `stop()` first waits for every queued batch, and an idempotent producer retries those
    forever; past the timeout the remaining batches are failed and its tasks torn down
    (private aiokafka attributes: there is no public "abandon").
    """
    try:
        await asyncio.wait_for(producer.stop(), timeout_s)
        return
    except Exception:
        pass
    producer._message_accumulator.fail_all(KafkaConnectionError("producer abandoned"))
    sender = producer._sender.sender_task
    if sender is not None and not sender.done():
        sender.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(sender, 1)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.client.close(), 1)


def kafka_headers(headers: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in headers.items()]


def header_dict(headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...] | None) -> dict[str, str]:
    return {name: value.decode(errors="replace") for name, value in (headers or ())}
