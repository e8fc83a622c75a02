"""Kafka plumbing: the producer, the outbox relay, the inbox-guarded consumer, DLQ and lag."""
