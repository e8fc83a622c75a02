"""Prometheus metrics of the event backbone, one registry per service process.

Lag uses kafka_exporter's names so existing Kafka dashboards read them unchanged.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class BackboneMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumergroup_lag = Gauge(
            "kafka_consumergroup_lag",
            "Current approximate lag of a consumer group at topic/partition",
            ["consumergroup", "topic", "partition"],
            registry=r,
        )
        self.consumergroup_lag_sum = Gauge(
            "kafka_consumergroup_lag_sum",
            "Current approximate lag of a consumer group at topic for all partitions",
            ["consumergroup", "topic"],
            registry=r,
        )
        self.outbox_backlog = Gauge("dd_outbox_backlog", "Outbox rows not yet published", registry=r)
        self.outbox_oldest_age = Gauge(
            "dd_outbox_oldest_age_seconds", "Age of the oldest outbox row not yet published (0 when empty)", registry=r
        )
        self.relay_failures = Counter(
            "dd_relay_failures", "Outbox relay attempts that left rows unpublished (Kafka or database away)", registry=r
        )
        self.producer_replacements = Counter(
            "dd_producer_replacements",
            "Kafka producers replaced after a failed delivery (a new producer id)",
            registry=r,
        )
        self.outbox_published = Counter(
            "dd_outbox_published", "Outbox events published to Kafka", ["topic"], registry=r
        )
        self.events_handled = Counter(
            "dd_events_handled", "Consumed events by outcome", ["consumergroup", "topic", "outcome"], registry=r
        )
        self.handler_latency = Histogram(
            "dd_handler_latency_seconds",
            "Time to apply one batch of consumed events (claim, handle, commit), per topic",
            ["consumergroup", "topic"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.dlq_sent = Counter("dd_dlq_sent", "Messages this process sent to a DLQ", ["topic"], registry=r)
        self.dlq_messages = Gauge("dd_dlq_messages", "Messages held in a dead-letter topic", ["topic"], registry=r)
