"""The one way to build a Kafka producer: idempotent, acks=all."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer


def create_producer(bootstrap_servers: str, *, client_id: str, linger_ms: int = 2) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,  # retries never duplicate or reorder within a partition
        acks="all",
        linger_ms=linger_ms,  # a few ms lets a burst share one request without hurting latency
        max_batch_size=256 * 1024,
        request_timeout_ms=15_000,
    )


def kafka_headers(headers: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in headers.items()]


def header_dict(headers: list[tuple[str, bytes]] | tuple | None) -> dict[str, str]:
    return {name: value.decode(errors="replace") for name, value in (headers or ())}
