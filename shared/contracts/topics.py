"""Kafka topic names. One topic per event type; each has a `.dlq` twin for poison messages."""

from __future__ import annotations

DISPUTE_RECEIVED = "dispute.received"
DISPUTE_UPDATED = "dispute.updated"
EVIDENCE_UPLOADED = "evidence.uploaded"
EVIDENCE_VALIDATED = "evidence.validated"
DEADLINE_SCHEDULED = "deadline.scheduled"
DEADLINE_ALERTED = "deadline.alerted"
CASE_SUBMITTED = "case.submitted"
VERDICT_RETURNED = "verdict.returned"

EVENT_TOPICS: tuple[str, ...] = (
    DISPUTE_RECEIVED,
    DISPUTE_UPDATED,
    EVIDENCE_UPLOADED,
    EVIDENCE_VALIDATED,
    DEADLINE_SCHEDULED,
    DEADLINE_ALERTED,
    CASE_SUBMITTED,
    VERDICT_RETURNED,
)

DLQ_SUFFIX = ".dlq"
# Partitions of each topic `dd topics` creates: the most consumers of one group that get work, and
# the partition count the AsyncAPI document states.
DEFAULT_PARTITIONS = 6


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


def is_dlq_topic(topic: str) -> bool:
    return topic.endswith(DLQ_SUFFIX)


def origin_of_dlq(topic: str) -> str:
    if not is_dlq_topic(topic):
        raise ValueError(f"{topic!r} is not a dead-letter topic")
    return topic[: -len(DLQ_SUFFIX)]


ALL_TOPICS: tuple[str, ...] = EVENT_TOPICS + tuple(dlq_topic(t) for t in EVENT_TOPICS)
