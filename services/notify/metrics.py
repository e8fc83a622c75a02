"""Prometheus metrics of the notify service, on the process's one registry (shared/metrics.py's).

Deliveries by channel and outcome, the latency of each attempt, and the due and dead counts
(refreshed by the dispatcher at most every few seconds, so a scrape costs no query).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.metrics import LATENCY_BUCKETS


class NotifyMetrics:
    def __init__(self) -> None:
        self.deliveries = Counter(
            "dd_notify_deliveries",
            "Delivery attempts by channel type and outcome (delivered, retry, gone, dead)",
            ["channel", "outcome"],
            registry=None,
        )
        self.attempt_latency = Histogram(
            "dd_notify_attempt_latency_seconds",
            "Latency of one delivery attempt (the outbound call)",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.due = Gauge("dd_notify_due", "Notifications due now (pending or retrying, due_at passed)", registry=None)
        self.dead = Gauge("dd_notify_dead", "Notifications that are dead", registry=None)
        self._registered: set[int] = set()

    def register(self, registry: CollectorRegistry) -> None:
        """Serve these from `registry` (the runtime's, which /metrics exposes); once per registry."""
        if id(registry) in self._registered:
            return
        for collector in (self.deliveries, self.attempt_latency, self.due, self.dead):
            registry.register(collector)
        self._registered.add(id(registry))
