"""Dead-letter topics: where a message goes when it cannot be handled, and how it comes back.

A DLQ message is the original key, value and headers plus `dd-*` headers saying why, where
from and after how many attempts. Replaying sends it back to its topic without those headers;
the consumer's inbox makes a replay of something already applied harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from shared.contracts.topics import EVENT_TOPICS, dlq_topic, origin_of_dlq
from shared.kafka.metadata import topic_partitions
from shared.kafka.producer import KafkaProducer, header_dict
from shared.kafka.security import PLAINTEXT, KafkaSecurity

DLQ_HEADER_PREFIX = "dd-"


async def send_to_dlq(
    producer: KafkaProducer | AIOKafkaProducer,
    message: ConsumerRecord,
    *,
    error: BaseException,
    service: str,
    consumer_group: str,
    attempts: int,
) -> None:
    why = {
        "dd-error": f"{type(error).__name__}: {error}"[:2000],
        "dd-error-type": type(error).__name__,
        "dd-service": service,
        "dd-consumer-group": consumer_group,
        "dd-attempts": str(attempts),
        "dd-original-topic": message.topic,
        "dd-original-partition": str(message.partition),
        "dd-original-offset": str(message.offset),
        "dd-failed-at": datetime.now(UTC).isoformat(),
    }
    original = [(k, v) for k, v in (message.headers or ()) if not k.startswith(DLQ_HEADER_PREFIX)]
    # Through a `KafkaProducer` (what services pass), a failed send replaces the wedged producer
    # and raises; the consumer then reads the batch again and the next try gets a new producer.
    await producer.send_and_wait(
        dlq_topic(message.topic),
        value=message.value,
        key=message.key,
        headers=original + [(k, v.encode()) for k, v in why.items()],
    )


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: str | None
    headers: dict[str, str]
    value: bytes

    @property
    def error(self) -> str:
        return self.headers.get("dd-error", "")

    @property
    def original_topic(self) -> str:
        return self.headers.get("dd-original-topic") or origin_of_dlq(self.topic)


async def read_dead_letters(
    bootstrap_servers: str, topics: list[str] | None = None, *, security: KafkaSecurity = PLAINTEXT
) -> list[DeadLetter]:
    """Every message currently held in the given DLQ topics (default: all of them)."""
    topics = topics or [dlq_topic(t) for t in EVENT_TOPICS]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, **security.client_kwargs()
    )
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, topics)
        if not partitions:
            return []
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.beginning_offsets(partitions)
        letters: list[DeadLetter] = []
        for tp in partitions:
            if ends[tp] <= starts[tp]:
                continue
            consumer.seek(tp, starts[tp])
            while (await consumer.position(tp)) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for record in batch.get(tp, []):
                    if record.offset < ends[tp]:
                        letters.append(
                            DeadLetter(
                                topic=record.topic,
                                partition=record.partition,
                                offset=record.offset,
                                key=record.key.decode(errors="replace") if record.key else None,
                                headers=header_dict(record.headers),
                                value=record.value or b"",
                            )
                        )
        return letters
    finally:
        await consumer.stop()


async def replay_dead_letters(producer: KafkaProducer | AIOKafkaProducer, letters: list[DeadLetter]) -> int:
    """Send `letters` back to their original topics, without the DLQ headers."""
    for letter in letters:
        headers = [(k, v.encode()) for k, v in letter.headers.items() if not k.startswith(DLQ_HEADER_PREFIX)]
        await producer.send_and_wait(
            letter.original_topic,
            value=letter.value,
            key=letter.key.encode() if letter.key is not None else None,
            headers=headers,
        )
    return len(letters)
