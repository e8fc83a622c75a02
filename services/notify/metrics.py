"""Prometheus metrics of the notify service (a `shared.metrics.ServiceMetrics`, served with the backbone's).

Deliveries by channel and outcome, the latency of each attempt, and the due and dead counts
(refreshed by the dispatcher at most every few seconds, so a scrape costs no query).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import LATENCY_BUCKETS, ServiceMetrics


class NotifyMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__()
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
