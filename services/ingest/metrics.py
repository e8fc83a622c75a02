"""Prometheus metrics of the ingest service (a `shared.metrics.ServiceMetrics`, served with the backbone's).

The signed webhook at its door: every call by outcome (accepted, replayed, refused), and the
refusals by their problem `code` (a wrong signature, a stale timestamp, a body too large, ...),
so a seller whose ERP signs with a rotated-out secret shows as a rising `invalid_signature`.
"""

from __future__ import annotations

from prometheus_client import Counter

from shared.metrics import ServiceMetrics


class IngestMetrics(ServiceMetrics):
    def __init__(self) -> None:
        super().__init__()
        self.webhooks = Counter(
            "dd_ingest_webhooks",
            "Signed webhook calls by outcome (accepted, replayed, refused)",
            ["outcome"],
            registry=None,
        )
        self.webhook_refusals = Counter(
            "dd_ingest_webhook_refusals",
            "Signed webhook calls refused, by the problem code answered",
            ["code"],
            registry=None,
        )

    def refused(self, code: str) -> None:
        self.webhooks.labels("refused").inc()
        self.webhook_refusals.labels(code).inc()
