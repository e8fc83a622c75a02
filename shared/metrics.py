"""Prometheus metrics of the event backbone, one registry per service process.

Lag uses kafka_exporter's per-partition name so existing Kafka dashboards read it unchanged; its
`kafka_consumergroup_lag_sum` is left out, because a gauge named `_sum` reads as a summary's part
to Prometheus (`promtool check metrics` refuses it): `sum by (consumergroup, topic)` gives it. A service's
own metrics (webhooks, reminders, submissions, deliveries) subclass `ServiceMetrics`.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db.session import call_after_commit

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


class ServiceMetrics:
    """Base of a service's own metrics (`services/<name>/metrics.py`), beside the backbone's.

    A subclass declares its collectors as attributes with ``registry=None``; the runtime registers
    them on the process's one registry (`ServiceRuntime`, from `ProcessContext.metrics`), so
    /metrics serves them with the backbone's. Gauges counted from the service's own tables are set
    in `refresh`, which /metrics awaits on every scrape: it must cost one cheap query at most.
    Counters of what a transaction did move with `count_after_commit`, never for a rollback.
    """

    def __init__(self) -> None:
        self._registered: set[int] = set()

    def collectors(self) -> list[MetricWrapperBase]:
        return [value for value in vars(self).values() if isinstance(value, MetricWrapperBase)]

    def register(self, registry: CollectorRegistry) -> None:
        """Serve these from `registry` (the runtime's, which /metrics exposes); once per registry."""
        if id(registry) in self._registered:
            return
        for collector in self.collectors():
            registry.register(collector)
        self._registered.add(id(registry))

    async def refresh(self, sessions: async_sessionmaker[AsyncSession], now: datetime) -> None:
        """Scrape-time gauges from the service's tables (none by default: no query)."""


_after_commit_seq = itertools.count()


def count_after_commit(session: AsyncSession, counter: Counter, amount: float = 1.0) -> None:
    """`counter.inc(amount)` once `session`'s transaction commits; nothing on a rollback.

    `counter` is a labelled child (`metrics.fired.labels("24h")`) or a counter without labels.
    """
    if amount:
        call_after_commit(session, f"dd_metric_{next(_after_commit_seq)}", lambda: counter.inc(amount))
